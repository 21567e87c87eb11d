"""The tamper-evident audit log: one append-only record per change made through the API or CLI.

- ``records``: ``AuditRecord``, ``AuditPage``, ``Verification`` (also the API's response models)
  and the known actions and target types.
- ``chain``: the canonical JSON of a record and its hash (each record carries the previous one's).
- ``service``: ``AuditLog`` (record, list, verify).

The services that make changes (keys, tenants, limits, billing, registry, serving, datasets,
jobs, evaluations) call ``AuditLog.record``; keys (in ``auth``, below this package) get it
handed in as a ``Recorder``.
"""

from aiaas.audit.records import ACTIONS, TARGET_TYPES, AuditPage, AuditRecord, Verification
from aiaas.audit.service import AuditLog, changed

__all__ = ["ACTIONS", "TARGET_TYPES", "AuditLog", "AuditPage", "AuditRecord", "Verification",
           "changed"]
