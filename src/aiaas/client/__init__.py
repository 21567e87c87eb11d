"""The Python SDK for an aiaas server: ``Client``, ``AsyncClient``, typed results and errors.

    from aiaas import Client

    with Client("http://127.0.0.1:8000", api_key="aiaas-...") as client:
        vectors = client.embed(["hello", "world"])
        prediction = client.predict("breast-cancer-diagnosis", [record])
        answer = client.chat("smollm2-135m-instruct", "What is the capital of France?")
        with client.chat_stream("smollm2-135m-instruct", history) as stream:
            for delta in stream:
                print(delta, end="", flush=True)
        transcript = client.transcribe("whisper-tiny-en", "meeting.wav")

        dataset = client.upload_dataset("patients.csv", label="diagnosis")
        job = client.create_job("tabular-classification", dataset.id, "diagnosis",
                                params={"algorithm": "auto"}, promote_if="f1_macro>=0.9")
        job = client.wait_job(job.id, on_event=print)
        print(job.status, job.version, job.metrics["accuracy"])
        report = client.evaluate("diagnosis", "patients-2025", split="all")
        client.download_evaluation_plot(report.id, "confusion_matrix", ".")

This package talks HTTP only: it never imports the server.
"""

from aiaas.client._audit import AuditPage, AuditRecord, AuditVerification
from aiaas.client._billing import Budget, BudgetRemaining, BudgetUse, Price
from aiaas.client._calls import Messages, ProgressCallback
from aiaas.client._client import AsyncClient, Client
from aiaas.client._errors import (
    AiaasAPIError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from aiaas.client._explain import (
    Explanation,
    Explanations,
    FeatureAttribution,
    ForecastStep,
    WordAttribution,
)
from aiaas.client._jobs import EventCallback
from aiaas.client._models import (
    ApiKey,
    ChatResult,
    ChatUsage,
    Classification,
    CostLine,
    CreatedKey,
    Dataset,
    Evaluation,
    Health,
    Job,
    JobEvent,
    LabelScore,
    Model,
    ModelVersion,
    Prediction,
    PredictionUsage,
    Segment,
    Transcription,
    UsageRecord,
    UsageReport,
    UsageTotals,
    UsageUnits,
    Whoami,
    Word,
)
from aiaas.client._privacy import PiiAnalysis, PiiEntity, PrivacyPolicy
from aiaas.client._streams import AsyncChatStream, ChatStream
from aiaas.client._tenants import Limits, Tenant

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AiaasAPIError",
    "ApiKey",
    "AsyncChatStream",
    "AsyncClient",
    "AuditPage",
    "AuditRecord",
    "AuditVerification",
    "AuthenticationError",
    "BadRequestError",
    "Budget",
    "BudgetRemaining",
    "BudgetUse",
    "ChatResult",
    "ChatStream",
    "ChatUsage",
    "Classification",
    "Client",
    "ConflictError",
    "CostLine",
    "CreatedKey",
    "Dataset",
    "Evaluation",
    "EventCallback",
    "Explanation",
    "Explanations",
    "FeatureAttribution",
    "ForecastStep",
    "Health",
    "InternalServerError",
    "Job",
    "JobEvent",
    "LabelScore",
    "Limits",
    "Messages",
    "Model",
    "ModelVersion",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PiiAnalysis",
    "PiiEntity",
    "Prediction",
    "PredictionUsage",
    "Price",
    "PrivacyPolicy",
    "ProgressCallback",
    "RateLimitError",
    "Segment",
    "ServiceUnavailableError",
    "Tenant",
    "Transcription",
    "UsageRecord",
    "UsageReport",
    "UsageTotals",
    "UsageUnits",
    "Whoami",
    "Word",
    "WordAttribution",
]
