"""Rate and concurrency limits, enforced once at the front door for every surface.

- ``counters``: the ``limits`` library's strategies over memory or Redis storage.
- ``check``: ``RateLimitCheck`` (an ``AdmissionCheck``) and ``rate_state``, what the HTTP layer
  turns into ``x-ratelimit-*`` headers.

The limits themselves are set through ``aiaas.tenants``.
"""

from aiaas.limits.check import RateLimitCheck, RateState, Window, rate_state
from aiaas.limits.counters import Counters

__all__ = ["Counters", "RateLimitCheck", "RateState", "Window", "rate_state"]
