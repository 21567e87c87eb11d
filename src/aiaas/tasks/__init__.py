"""One module per task. A task owns the input checks, output schema and usage units."""

from __future__ import annotations

from aiaas.errors import Invalid
from aiaas.tasks.base import Task
from aiaas.tasks.chat import ChatTask, CompletionTask
from aiaas.tasks.embedding import EmbeddingTask
from aiaas.tasks.forecasting import ForecastingTask
from aiaas.tasks.image_classification import ImageClassificationTask
from aiaas.tasks.speech import SpeechRecognitionTask
from aiaas.tasks.tabular import TabularClassificationTask, TabularRegressionTask
from aiaas.tasks.text2text import Text2TextTask
from aiaas.tasks.text_classification import TextClassificationTask

TASKS: dict[str, Task] = {
    task.name: task
    for task in (EmbeddingTask(), TabularClassificationTask(), TabularRegressionTask(),
                 TextClassificationTask(), ImageClassificationTask(), Text2TextTask(),
                 SpeechRecognitionTask(), ChatTask(), CompletionTask(), ForecastingTask())
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise Invalid(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}",
            details={"field": "task"},
        ) from None


__all__ = ["TASKS", "Task", "get_task"]
