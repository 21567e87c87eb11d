"""Who works next in the generation engine, so that one tenant's many or long prompts cannot
starve another tenant's short chat.

- **Waiting**: one FIFO per tenant. Admission into the running set takes the tenants' heads in
  turn (round-robin), a tenant holding more than its share of the running slots going after
  those under theirs (work-conserving: a slot no one else wants is still taken). A whole
  multi-item request is never admitted as one unit: its items queue one by one behind the
  other tenants' heads. At most ``max_waiting`` sequences wait, ``max_waiting_per_tenant`` of
  them from one tenant, so a flood from one tenant gets 429s while others still queue.
- **KV budget**: a stacked model decodes sequences of similar reserved length together (length
  classes of powers of two), so a short chat is never padded to a long prompt's width; the
  running set's footprint is, per class, rows x the longest reservation. A head that does not
  fit is passed over for heads that do; when its tenant has nothing running (so it is not
  merely waiting for its own earlier work), at most ``max_passes`` times, then the door is held
  for it until the running set shrinks (so a long prompt waits, but not forever).
- **Step budget**: each engine step does at most ``step_tokens`` of work: one token per
  decoding row, the rest prefill. Work is weighed by depth (a prompt token at position p costs
  ``1 + p / attention_scale`` tokens at position 0: attention reads every earlier token), so a
  step stays short however deep a long prompt's prefill has gone. The prefill share is split
  equally between the tenants prefilling (a tenant needing less than its share, a short chat,
  gets all it needs and the rest goes to the others), and the chunks that finish a prompt run
  first in the step, so a short prompt's first token comes one step after it is admitted.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiaas.errors import Overloaded
from aiaas.runtime.generation.sequence import Sequence

MIN_CHUNK = 16
"""The fewest prompt tokens a prefill forward pass takes (a pass has fixed costs)."""
DEFAULT_ATTENTION_SCALE = 2048.0


@dataclass(frozen=True, slots=True)
class EngineLimits:
    max_sequences: int = 16
    max_waiting: int = 64
    max_kv_tokens: int = 16384
    prefill_chunk: int = 512
    """The most prompt tokens one prefill forward pass takes (bounds its activations)."""
    step_tokens: int = 256
    """Work per engine step, in prompt tokens at position 0 (see the module's docstring)."""
    max_waiting_per_tenant: int | None = None
    """None: half of ``max_waiting`` (at least 1)."""
    max_passes: int = 32

    @property
    def tenant_waiting(self) -> int:
        if self.max_waiting_per_tenant is not None:
            return self.max_waiting_per_tenant
        return max(1, self.max_waiting // 2)


def attention_scale(model: Any) -> float:
    """The depth at which attention costs a token as much as the rest of its layer: the
    parameters of one decoder layer (multiply-adds per token) over the attention's
    multiply-adds per earlier token (2 x heads x head dim, for scores and values)."""
    config = model.config.get_text_config(decoder=True) if hasattr(model.config,
                                                                   "get_text_config") else model.config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if hidden and heads else None)
    if not (isinstance(layers, int) and isinstance(heads, int) and isinstance(head_dim, int)):
        return DEFAULT_ATTENTION_SCALE
    total = sum(p.numel() for p in model.parameters())
    embeddings = {id(module.weight): module.weight.numel()
                  for module in (model.get_input_embeddings(), model.get_output_embeddings())
                  if module is not None and getattr(module, "weight", None) is not None}
    per_layer = (total - sum(embeddings.values())) / layers
    return float(max(per_layer / (2 * heads * head_dim), 1.0))


def length_class(reserved: int) -> int:
    """The class a sequence is decoded in on a stacked model: reservations within a power of
    two share a group (padding costs at most 2x)."""
    return max(reserved - 1, 1).bit_length()


class Scheduler:
    """The waiting queues and the step plan; the engine calls it under its lock."""

    def __init__(self, limits: EngineLimits, *, stacked: bool, attention_scale: float,
                 name: str) -> None:
        self.limits = limits
        self.stacked = stacked
        self.attention_scale = attention_scale
        self.name = name
        self._queues: dict[str, deque[Sequence]] = {}
        self._turns: deque[str] = deque()
        """Tenants with waiting sequences, the next to be served first."""
        self.waiting = 0

    # -- waiting ---------------------------------------------------------------------------------

    def add(self, sequence: Sequence) -> None:
        """Queue ``sequence`` behind its tenant's others; ``Overloaded`` past the bounds."""
        limits = self.limits
        if self.waiting >= limits.max_waiting:
            raise Overloaded(f"model {self.name} has {self.waiting} generations waiting; try "
                             "again shortly", retry_after_s=1.0)
        queue = self._queues.get(sequence.tenant)
        if queue is not None and len(queue) >= limits.tenant_waiting:
            raise Overloaded(f"model {self.name} has {len(queue)} of your generations waiting "
                             f"(at most {limits.tenant_waiting}); try again shortly",
                             retry_after_s=1.0)
        if queue is None:
            queue = self._queues[sequence.tenant] = deque()
            self._turns.append(sequence.tenant)
        queue.append(sequence)
        self.waiting += 1

    def remove(self, sequence: Sequence) -> bool:
        """Take a waiting sequence out (its consumer left); False when it is not waiting."""
        queue = self._queues.get(sequence.tenant)
        if queue is None or sequence not in queue:
            return False
        queue.remove(sequence)
        self.waiting -= 1
        if not queue:
            self._forget(sequence.tenant)
        return True

    def drain(self) -> list[Sequence]:
        """Every waiting sequence, leaving none."""
        drained = [sequence for queue in self._queues.values() for sequence in queue]
        self._queues.clear()
        self._turns.clear()
        self.waiting = 0
        return drained

    def _forget(self, tenant: str) -> None:
        del self._queues[tenant]
        self._turns.remove(tenant)

    # -- admission -------------------------------------------------------------------------------

    def footprint(self, rows: Iterable[Sequence]) -> int:
        """KV slots the rows will hold, padding included (see ``length_class``)."""
        if not self.stacked:
            return sum(row.reserved for row in rows)
        longest: dict[int, int] = {}
        count: Counter[int] = Counter()
        for row in rows:
            key = length_class(row.reserved)
            longest[key] = max(longest.get(key, 0), row.reserved)
            count[key] += 1
        return sum(count[key] * longest[key] for key in count)

    def admit(self, running: list[Sequence]) -> list[Sequence]:
        """Move waiting sequences into the running set (``running``: those already in it),
        one tenant's head at a time, in turn, while slots and the KV budget allow."""
        rows = list(running)
        admitted: list[Sequence] = []
        while self._turns and len(rows) < self.limits.max_sequences:
            chosen = self._next(rows)
            if chosen is None:
                break
            rows.append(chosen)
            admitted.append(chosen)
        return admitted

    def _next(self, rows: list[Sequence]) -> Sequence | None:
        held = Counter(row.tenant for row in rows)
        share = math.ceil(self.limits.max_sequences / len(set(self._queues) | set(held)))
        order = sorted(self._turns, key=lambda tenant: held[tenant] >= share)  # stable: turns kept
        passed: list[Sequence] = []
        for tenant in order:
            head = self._queues[tenant][0]
            if rows and self.footprint([*rows, head]) > self.limits.max_kv_tokens:
                if not held[tenant]:  # with none of its own running, it could starve
                    if head.passed_over >= self.limits.max_passes:
                        return None  # the door is held for it
                    passed.append(head)
                continue
            for other in passed:
                other.passed_over += 1
            queue = self._queues[tenant]
            queue.popleft()
            self.waiting -= 1
            self._turns.remove(tenant)
            if queue:
                self._turns.append(tenant)
            else:
                del self._queues[tenant]
            return head
        return None

    # -- one step --------------------------------------------------------------------------------

    def cost(self, depth: int, tokens: int) -> float:
        """The work of ``tokens`` prompt tokens starting at position ``depth``."""
        return tokens * (1 + (depth + tokens / 2) / self.attention_scale)

    def tokens_for(self, depth: int, work: float) -> int:
        """How many prompt tokens starting at ``depth`` fit in ``work`` (the inverse of
        ``cost``), at least ``MIN_CHUNK``."""
        scale = self.attention_scale
        slope = 1 + depth / scale
        tokens = scale * (math.sqrt(slope * slope + 2 * work / scale) - slope)
        return max(int(tokens), MIN_CHUNK)

    def plan(self, prefilling: list[Sequence], decode_work: float) -> list[tuple[Sequence, int]]:
        """This step's prefill chunks, ``(sequence, tokens)``, those that finish a prompt first.
        ``decode_work``: what this step's decoding rows cost."""
        step = self.limits.step_tokens
        budget = max(step - decode_work, step / 4)
        tenants: dict[str, list[Sequence]] = {}
        for sequence in prefilling:
            if not sequence.cancelled:
                tenants.setdefault(sequence.tenant, []).append(sequence)
        needs = {tenant: sum(self.cost(s.prefilled, s.remaining_prompt) for s in sequences)
                 for tenant, sequences in tenants.items()}
        chunks: list[tuple[Sequence, int]] = []
        for tenant, share in _shares(needs, budget).items():
            for number, sequence in enumerate(tenants[tenant]):
                if share <= 0 or (number and share < self.cost(sequence.prefilled, MIN_CHUNK)):
                    break  # a tenant's first sequence always moves; the next ones on what is left
                tokens = min(self.tokens_for(sequence.prefilled, share), sequence.remaining_prompt,
                             self.limits.prefill_chunk)
                chunks.append((sequence, tokens))
                share -= self.cost(sequence.prefilled, tokens)
        chunks.sort(key=lambda chunk: chunk[1] < chunk[0].remaining_prompt)
        return chunks


def _shares(needs: dict[str, float], budget: float) -> dict[str, float]:
    """``budget`` split equally, except that a need under its equal share gets just that and
    the rest is split again among the others (water-filling)."""
    shares: dict[str, float] = {}
    pending = sorted(needs, key=lambda tenant: needs[tenant])
    left = budget
    while pending:
        fair = left / len(pending)
        smallest = pending[0]
        if needs[smallest] > fair:
            shares.update((tenant, fair) for tenant in pending)
            break
        shares[smallest] = needs[smallest]
        left -= needs[smallest]
        pending.pop(0)
    return shares
