"""Prometheus metrics, one registry per app so tests and several apps in a process never clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "aiaas_http_requests_total", "HTTP requests by route template, method and status "
            "(499: the client left before its answer was complete; not an error).",
            ["method", "route", "status"], registry=self.registry,
        )
        self.http_latency = Histogram(
            "aiaas_http_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.predictions = Counter(
            "aiaas_predictions_total", "Predict calls by model and outcome status.",
            ["model", "status"], registry=self.registry,
        )
        self.prediction_errors = Counter(
            "aiaas_prediction_errors_total", "Predict calls that failed, by model and error code.",
            ["model", "code"], registry=self.registry,
        )
        self.admission_refusals = Counter(
            "aiaas_admission_refusals_total",
            "Model calls refused before reaching a model, by admission check and error code.",
            ["check", "code"], registry=self.registry,
        )
        self.prediction_latency = Histogram(
            "aiaas_prediction_duration_seconds", "Time from accepted request to result, per model.",
            ["model"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "aiaas_batch_size", "Items per batch sent to a backend.", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry,
        )
        self.loaded_models = Gauge(
            "aiaas_loaded_models", "Model versions loaded in memory.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "aiaas_queue_depth", "Requests waiting in a model's queue.", ["model"],
            registry=self.registry,
        )
        self.generations_running = Gauge(
            "aiaas_generations_running",
            "Generations (sequences) admitted by a loaded model's engine, prefilling or decoding.",
            ["tenant", "model", "version"], registry=self.registry,
        )
        self.generations_waiting = Gauge(
            "aiaas_generations_waiting", "Generations waiting for a loaded model's engine.",
            ["tenant", "model", "version"], registry=self.registry,
        )
        self.usage_backlog = Gauge(
            "aiaas_usage_backlog", "Usage records waiting to be written.", registry=self.registry
        )

        self.spend = Counter(
            "aiaas_spend_total", "What metered calls cost, per tenant, in the installation's "
            "currency (prices in force when each call ran; free models add nothing).",
            ["tenant", "currency"], registry=self.registry,
        )
        self.budget_remaining = Gauge(
            "aiaas_budget_remaining", "What is left of a budget or quota in its current period "
            "(limit: amount, tokens, items or audio_seconds), as this process last saw it.",
            ["tenant", "key", "period", "limit"], registry=self.registry,
        )
        self.budget_warnings = Counter(
            "aiaas_budget_soft_threshold_total", "Budgets and quotas whose use crossed their soft "
            "threshold (counted once per period).", ["tenant", "key", "period", "limit"],
            registry=self.registry,
        )

        self.rate_limited = Counter(
            "aiaas_rate_limited_total", "Model calls refused by a rate or concurrency limit, "
            "per tenant and limit (requests, tokens, items, audio_seconds, concurrent).",
            ["tenant", "limit"], registry=self.registry,
        )
        self.limiter_store_errors = Counter(
            "aiaas_limiter_store_errors_total", "Rate-limit store (Redis) errors, by what the "
            "call they hit got: refused (503 limits_unavailable), admitted (fail open) or "
            "settle (a finished call's count could not be adjusted).",
            ["outcome"], registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
