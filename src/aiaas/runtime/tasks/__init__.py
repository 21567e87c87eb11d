"""One module per task. A task owns the input checks, output schema and usage units."""

from __future__ import annotations

from aiaas.errors import Invalid
from aiaas.runtime.tasks.base import Task
from aiaas.runtime.tasks.embedding import EmbeddingTask
from aiaas.runtime.tasks.tabular import TabularClassificationTask, TabularRegressionTask

TASKS: dict[str, Task] = {
    task.name: task
    for task in (EmbeddingTask(), TabularClassificationTask(), TabularRegressionTask())
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
