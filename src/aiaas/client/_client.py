"""``Client`` and ``AsyncClient``: the same methods, sync and async, over one request layer.

Each method builds a ``Call`` (in ``_calls``, ``_jobs``, ``_datasets``, ``_evaluations``) and hands it to
``_send``, the only place that differs between the two (``_sending``): it sends, retries
transient failures, and parses or raises. The methods come in one mixin per area.
"""

from __future__ import annotations

from aiaas.client._audit import AsyncAuditMethods, AuditMethods
from aiaas.client._billing import AsyncBillingMethods, BillingMethods
from aiaas.client._datasets import AsyncDatasetMethods, DatasetMethods
from aiaas.client._evaluations import AsyncEvaluationMethods, EvaluationMethods
from aiaas.client._explain import AsyncExplainMethods, ExplainMethods
from aiaas.client._inference import AsyncInferenceMethods, InferenceMethods
from aiaas.client._jobs import AsyncJobMethods, JobMethods
from aiaas.client._privacy import AsyncPrivacyMethods, PrivacyMethods
from aiaas.client._registry import AsyncRegistryMethods, RegistryMethods
from aiaas.client._tenants import AsyncTenantMethods, TenantMethods


class Client(RegistryMethods, InferenceMethods, JobMethods, DatasetMethods, EvaluationMethods,
             BillingMethods, TenantMethods, AuditMethods, PrivacyMethods, ExplainMethods):
    """A blocking client for an aiaas server.

    ``base_url`` defaults to ``$AIAAS_URL`` (else ``http://127.0.0.1:8000``) and ``api_key`` to
    ``$AIAAS_API_KEY``. ``timeout`` is per network operation, in seconds. Calls that are safe to
    repeat (reads, deletes, alias moves and predict) are retried up to ``max_retries`` times on
    429, 503 and broken connections, waiting as ``Retry-After`` says. Failures raise
    ``AiaasAPIError`` subclasses. Use as a context manager, or call ``close()``.
    """


class AsyncClient(AsyncRegistryMethods, AsyncInferenceMethods, AsyncJobMethods, AsyncDatasetMethods,
                  AsyncEvaluationMethods, AsyncBillingMethods, AsyncTenantMethods,
                  AsyncAuditMethods, AsyncPrivacyMethods, AsyncExplainMethods):
    """The asyncio twin of ``Client``: same arguments, same methods, awaitable."""
