"""Wire models of the OpenAI API as aiaas speaks it under ``/v1``.

Requests are parsed strictly: an argument OpenAI does not define is a 400 naming it, and an
OpenAI argument aiaas cannot honour (tools, logprobs, ``n`` > 1, token-id inputs, ...) is a 400
saying so, rather than being silently ignored. Arguments that change nothing here (``user``,
``metadata``, ``store``) are accepted and ignored. Responses are built as plain dicts shaped like
the models below (which document them in OpenAPI).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MODEL_FIELD = Field(min_length=1, max_length=200, description=(
    "A model name from `GET /v1/models`; `name:ref` picks a version number or alias."))

TEXTS: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class OpenAIErrorBody(BaseModel):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = None
    code: str | None = Field(default=None, examples=["model_not_found"])


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorBody


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = Field(description="The tenant, or `aiaas` for built-in models.")


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbeddingRequest(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"model": "all-minilm-l6-v2", "input": ["A man is playing a guitar.", "The market fell."]},
    ]})

    input: Any = Field(description="A string or a list of strings (token-id arrays are not "
                       "supported).", json_schema_extra=TEXTS)
    model: str = MODEL_FIELD
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="`base64`: little-endian float32 bytes, base64-encoded.")
    dimensions: int | None = Field(default=None, gt=0,
                                   description="Must equal the model's dimensions when given.")
    user: str | None = Field(default=None, description="Accepted and ignored.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"] = Field(
        description="`developer` is treated as `system`.")
    content: StrictStr | list[dict[str, Any]] = Field(
        description='A string or a list of `{"type": "text", "text": ...}` parts.')
    name: str | None = Field(default=None, description="Accepted and ignored.")


class StreamOptions(_Request):
    include_usage: bool = False


class _Sampling(_Request):
    model: str = MODEL_FIELD
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: StrictStr | list[StrictStr] | None = Field(default=None, description="Up to 4 sequences.")
    seed: int | None = None
    n: int | None = Field(default=None, description="Only 1 is supported.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="Accepted and ignored.")
    frequency_penalty: float | None = Field(default=None, description="Only 0 is supported.")
    presence_penalty: float | None = Field(default=None, description="Only 0 is supported.")
    logit_bias: dict[str, float] | None = Field(default=None, description="Not supported.")


class ChatCompletionRequest(_Sampling):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "smollm2-135m-instruct", "max_tokens": 32, "temperature": 0,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }]})

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1,
                                              description="Takes precedence over max_tokens.")
    logprobs: bool | None = Field(default=None, description="Not supported.")
    top_logprobs: int | None = Field(default=None, description="Not supported.")
    tools: list[Any] | None = Field(default=None, description="Not supported.")
    tool_choice: Any = Field(default=None, description="Not supported.")
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = Field(
        default=None, description='Only `{"type": "text"}` is supported.')
    metadata: dict[str, str] | None = Field(default=None, description="Accepted and ignored.")
    store: bool | None = Field(default=None, description="Accepted and ignored.")


class CompletionRequest(_Sampling):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "smollm2-135m-instruct", "prompt": "The capital of France is", "max_tokens": 8,
    }]})

    prompt: Any = Field(description="A string, or a list holding one string.",
                        json_schema_extra=TEXTS)
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool | None = Field(default=None, description="Not supported.")
    suffix: str | None = Field(default=None, description="Not supported.")
    logprobs: int | None = Field(default=None, description="Not supported.")
    best_of: int | None = Field(default=None, description="Only 1 is supported.")


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class EmbeddingData(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: OpenAIUsage


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None


class ChatCompletion(BaseModel):
    """Streamed instead as `chat.completion.chunk` server-sent events when `stream` is true."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: OpenAIUsage


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: str | None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: OpenAIUsage


class Segment(BaseModel):
    id: int
    start: float
    end: float
    text: str


class Transcription(BaseModel):
    """`json`; `verbose_json` adds language, duration and segments; `text`, `srt` and `vtt` are
    plain text."""

    text: str
    task: str | None = None
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None


ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
