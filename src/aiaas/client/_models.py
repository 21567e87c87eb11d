"""Typed results. Fields the server adds later are kept (``extra="allow"``), never an error."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Health(_Result):
    """``GET /healthz``: ``status`` is ``"ok"`` while the process serves HTTP."""

    status: str


class Whoami(_Result):
    """Who the API key belongs to and what it may do."""

    tenant: str
    key_id: str
    scopes: list[str]


class ModelVersion(_Result):
    """One immutable, uploaded version of a model."""

    model: str
    tenant: str
    version: int
    task: str
    format: str
    framework: str
    sha256: str
    size_bytes: int
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] = Field(default_factory=dict)
    labels: list[Any] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    preload: bool = False
    created_by: str
    created_at: datetime
    aliases: list[str] = Field(default_factory=list)
    serving: dict[str, Any] = Field(default_factory=dict)
    """How the version is served (batching, device, precision) and the measured reports of its
    compiled builds (e.g. ``builds.int8.delta``), as ``PATCH .../versions/{version}`` set them."""


class Model(_Result):
    """A named model: its versions and the aliases (``production``, ...) pointing at them."""

    name: str
    tenant: str
    builtin: bool
    task: str
    description: str = ""
    created_by: str
    created_at: datetime
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None
    versions: list[ModelVersion] = Field(default_factory=list)

    @property
    def production_version(self) -> int | None:
        """The version ``predict`` uses by default: the ``production`` alias, else the latest."""
        return self.aliases.get("production", self.latest_version)


class PredictionUsage(_Result):
    """What one predict call consumed (tokens for text models, seconds for audio)."""

    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    latency_ms: float = 0.0


class Prediction(_Result):
    """A predict response: one entry of ``outputs`` per input, in order."""

    model: str
    version: int
    outputs: list[Any]
    usage: PredictionUsage = Field(default_factory=PredictionUsage)
    privacy: dict[str, Any] | None = None
    """Under a PII policy that found something: the policy and the spans found (no values)."""


class LabelScore(_Result):
    label: str
    score: float


class Classification(_Result):
    """One output of a classification model. ``top_k`` (text and image models) lists the best
    labels, best first; tabular models leave it empty."""

    label: str
    score: float
    probabilities: dict[str, float] = Field(default_factory=dict)
    top_k: list[LabelScore] = Field(default_factory=list)


class ChatUsage(_Result):
    """Tokens one chat answer took: the prompt (the whole history) and the answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> ChatUsage:
        return cls(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                   total_tokens=prompt_tokens + completion_tokens)


class ChatResult(_Result):
    """A chat model's answer. ``finish_reason``: ``"stop"`` (end of turn or a stop string) or
    ``"length"`` (``max_tokens`` reached)."""

    model: str
    text: str
    finish_reason: str | None = None
    usage: ChatUsage = Field(default_factory=ChatUsage)


class Word(_Result):
    """One word with its time span in seconds (``transcribe(..., timestamps=True)``)."""

    word: str
    start: float
    end: float
    probability: float | None = None


class Segment(_Result):
    """A stretch of speech; times in seconds from the start of the audio."""

    id: int
    start: float
    end: float
    text: str
    words: list[Word] | None = None


class Transcription(_Result):
    """What a speech model heard: the whole ``text`` and its timed ``segments``."""

    text: str
    language: str | None = None
    duration: float = 0.0
    segments: list[Segment] = Field(default_factory=list)

    def to_srt(self) -> str:
        """The segments as SubRip subtitles."""
        return "".join(f"{index}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n\n"
                       for index, s in enumerate(self.segments, start=1))

    def to_vtt(self) -> str:
        """The segments as WebVTT subtitles."""
        return "WEBVTT\n\n" + "".join(
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n\n" for s in self.segments)


def _clock(seconds: float, separator: str) -> str:
    """``HH:MM:SS<separator>mmm`` (SRT separates milliseconds with a comma, WebVTT with a dot)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


class ApiKey(_Result):
    """An API key as listed (never with its secret)."""

    id: str
    name: str
    tenant: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedKey(ApiKey):
    """A key just created: ``secret`` is the bearer token, shown this once only."""

    secret: str = Field(repr=False)


class UsageUnits(_Result):
    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0


class UsageRecord(_Result):
    """One metered call; ``status`` is ``"ok"`` or the error code it failed with."""

    id: int
    created_at: datetime
    tenant: str
    key_id: str
    model: str
    version: int | None = None
    surface: str
    units: UsageUnits = Field(default_factory=UsageUnits)
    latency_ms: float
    status: str
    cost: Decimal = Decimal(0)
    """At the price in force when the call ran; 0 when the model had none (``priced`` False)."""
    currency: str | None = None
    price_id: int | None = None
    priced: bool = False


class UsageTotals(_Result):
    """Totals over the whole filtered range (not just the records returned)."""

    requests: int = 0
    errors: int = 0
    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    mean_latency_ms: float = 0.0
    cost: Decimal = Decimal(0)


class CostLine(_Result):
    """Units and exact cost of one UTC day of one key's calls to one model."""

    day: date
    tenant: str
    key_id: str
    model: str
    currency: str | None = None
    requests: int = 0
    errors: int = 0
    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0
    cost: Decimal = Decimal(0)


class UsageReport(_Result):
    """Usage records, newest first, the totals of the range and its cost lines."""

    records: list[UsageRecord]
    totals: UsageTotals
    costs: list[CostLine] = Field(default_factory=list)


JOB_FINISHED = ("succeeded", "failed", "cancelled")
"""The statuses a job ends in; ``queued`` and ``running`` come before."""


class Job(_Result):
    """A training job. ``status``: queued -> running -> succeeded | failed | cancelled. Once it
    succeeded, ``model``/``version`` name the registered result, ``metrics`` holds the test-split
    evaluation and ``result`` the rest (``plots``, ``promoted``, ``promotion_reason``, ...)."""

    id: str
    task: str
    dataset: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    promote_if: str | None = None
    retryable: bool = True
    """Whether the job may run once more when its worker dies mid-way."""
    attempts: int = 0
    """How many times a worker took the job (a worker that died counts; a graceful stop not)."""
    status: str
    version: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in JOB_FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def promoted(self) -> bool | None:
        """Whether the result went to the ``production`` alias (None before the job ends)."""
        value = self.result.get("promoted")
        return value if isinstance(value, bool) else None

    @property
    def plots(self) -> list[str]:
        """Names for ``download_plot``: ``confusion_matrix``, ``roc_curve``, ``training_curve``, ..."""
        return [str(name) for name in self.result.get("plots", [])]


class JobEvent(_Result):
    """One server-sent event of a job, in order (``id`` grows). ``type`` is ``status`` (``data``
    holds ``status``, and ``error`` or ``version`` at the end), ``progress`` (``stage`` with
    ``step``, ``total``, ``epoch``, ``loss``, ``eta_s`` and validation metrics, as the trainer
    reports them) or ``log`` (``message``)."""

    id: int
    type: str
    time: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return str(self.data["status"]) if self.type == "status" and "status" in self.data else None

    @property
    def stage(self) -> str | None:
        return str(self.data["stage"]) if self.type == "progress" and "stage" in self.data else None

    @property
    def finished(self) -> bool:
        """True for the last event of a job: the status it ended with."""
        return self.status in JOB_FINISHED


class Dataset(_Result):
    """A data set to train on: uploaded (``id`` ``ds-...``) or built in (``builtin:NAME``).

    ``kind`` is ``table`` or ``images``; ``columns`` maps column name to ``number``, ``text``,
    ``datetime`` or ``label``; ``label`` is the default target column, ``split_column`` the
    user's own train/validation/test column and ``timestamp`` the time column of a series;
    ``stats`` holds rows, class balance and the like. Built-ins have no file (``format``,
    ``size_bytes``, ``sha256`` and ``created_at`` are None).
    """

    id: str
    name: str
    kind: str
    format: str | None = None
    rows: int
    columns: dict[str, str] = Field(default_factory=dict)
    label: str | None = None
    split_column: str | None = None
    timestamp: str | None = None
    stats: dict[str, Any] = Field(default_factory=dict)
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None
    description: str = ""
    builtin: bool = False


class Evaluation(_Result):
    """A model version scored on a dataset: ``split`` ``test`` (the held-out rows a job with the
    same ``seed``/``test_fraction`` never saw; a series' last ``horizon`` points) or ``all``.
    ``metrics`` holds the scalars (accuracy, f1_macro, roc_auc, mae, rmse, r2, mape,
    interval_coverage, ...) plus ``per_class``, ``confusion_matrix`` or ``forecast``; ``plots``
    names the PNGs for ``download_evaluation_plot``."""

    id: str
    model: str
    version: int
    dataset: str
    split: str
    task: str
    params: dict[str, Any] = Field(default_factory=dict)
    rows: int
    metrics: dict[str, Any] = Field(default_factory=dict)
    plots: list[str] = Field(default_factory=list)
    created_at: datetime
    duration_ms: float
