"""The usage journal: rows survive a killed process, are replayed once, and only dead owners'
journals are adopted; then a real server killed with SIGKILL under load, three times."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
from sklearn.datasets import load_breast_cancer
from sqlalchemy import func, select

from aiaas.builtin import DIAGNOSIS, ensure_builtins
from aiaas.config import Settings
from aiaas.db.tables import UsageRecord
from aiaas.services import Services
from aiaas.tasks.units import Units
from aiaas.usage.journal import Journal, encode, orphans
from aiaas.usage.service import UsageEntry, UsageService, _fields
from tests.conftest import LiveServer, start_server, stop_server


def entry(n: int = 1) -> UsageEntry:
    return UsageEntry(tenant="clinic", key_id="k", model="m", version=1, surface="native",
                      latency_ms=1.0, status="ok", units=Units(items=n))


def rows(services: Services) -> int:
    with services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


def usage(services: Services, journal_dir: Path) -> UsageService:
    return UsageService(services.db, journal_dir=journal_dir, interval_s=3600)


def test_rows_of_a_journal_left_behind_are_replayed_once(services: Services,
                                                         tmp_path: Path) -> None:
    first = usage(services, tmp_path / "j")
    first.start()
    for n in range(5):
        first.record(entry(n))
    first.flush()  # committed, but the process "dies" before the journal is deleted:
    for n in range(3):
        first.record(entry(n))
    assert first._journal is not None
    first._journal.close(consumed=False)
    first._journal = None
    assert rows(services) == 5
    second = usage(services, tmp_path / "j")
    second.start()
    assert rows(services) == 8
    second.stop()
    third = usage(services, tmp_path / "j")
    third.start()
    third.stop()
    assert rows(services) == 8
    assert list((tmp_path / "j").iterdir()) == []


def test_a_replay_after_commit_counts_nothing_twice(services: Services, tmp_path: Path) -> None:
    directory = tmp_path / "j"
    journal = Journal.open(directory)
    service = usage(services, directory)
    recorded = [entry(n) for n in range(4)]
    for item in recorded:
        service.record(item)
    service.flush()
    for item in recorded:  # the same calls, journalled by a process that then died
        journal.append(encode(_fields(item)))
    journal.close(consumed=False)
    assert service.adopt() == 4
    assert rows(services) == 4


def test_a_torn_last_line_is_skipped(services: Services, tmp_path: Path) -> None:
    directory = tmp_path / "j"
    journal = Journal.open(directory)
    journal.append(encode(_fields(entry(1))) + encode(_fields(entry(2)))[:25])
    journal.close(consumed=False)
    assert usage(services, directory).adopt() == 1
    assert rows(services) == 1
    assert list(directory.iterdir()) == []


def test_costs_survive_a_replay_exactly(services: Services, tmp_path: Path) -> None:
    """A row's cost goes into the journal as decimal text and comes back to the last digit; a
    row journalled before costs existed is replayed as free."""
    directory = tmp_path / "j"
    journal = Journal.open(directory)
    priced = UsageEntry(tenant="clinic", key_id="k", model="m", version=1, surface="native",
                        latency_ms=1.0, status="ok", units=Units(items=3),
                        cost=Decimal("0.0000001234"), currency="USD", price_id=7)
    older = _fields(entry(1))
    for name in ("cost", "currency", "price_id"):
        del older[name]
    journal.append(encode(_fields(priced)) + encode(older))
    journal.close(consumed=False)
    assert usage(services, directory).adopt() == 2
    with services.db.session() as session:
        stored = {row.call_id: row for row in session.scalars(select(UsageRecord))}
        replayed, free = stored[priced.call_id], stored[older["call_id"]]
        assert (replayed.cost, replayed.currency, replayed.price_id) == (
            Decimal("0.0000001234"), "USD", 7)
        assert (free.cost, free.currency, free.price_id) == (0, None, None)


FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from pathlib import Path
    from aiaas.usage.journal import Journal, encode
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on ENOSPC
    journal = Journal.open(Path(sys.argv[1]))
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    written, failed = 0, 0
    for n in range(40):
        try:
            journal.append(encode({"call_id": f"a{n}", "created_at": "2026-01-01T00:00:00+00:00"}))
            written += 1
        except OSError:
            failed += 1
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space freed
    journal.append(encode({"call_id": "after", "created_at": "2026-01-01T00:00:00+00:00"}))
    print(written, failed)
""")


def test_a_full_disk_loses_only_the_torn_row(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(directory)], capture_output=True,
                         text=True, check=True, timeout=60)
    written, failed = map(int, out.stdout.split())
    assert written >= 10 and failed >= 1
    [orphan] = list(orphans(directory))
    ids = [row["call_id"] for row in orphan.rows()]
    assert ids == [f"a{n}" for n in range(written)] + ["after"]


LIVE_OWNER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from aiaas.usage.journal import Journal, encode
    journal = Journal.open(Path(sys.argv[1]))
    journal.append(encode({"call_id": "x", "created_at": "2026-01-01T00:00:00+00:00"}))
    print("ready", flush=True)
    time.sleep(120)
""")


def test_only_journals_of_dead_processes_are_adopted(tmp_path: Path) -> None:
    directory = tmp_path / "j"
    with subprocess.Popen([sys.executable, "-c", LIVE_OWNER, str(directory)],
                          stdout=subprocess.PIPE, text=True) as owner:
        try:
            assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
            assert list(orphans(directory)) == []
        finally:
            owner.kill()
        owner.wait(timeout=30)
    found = list(orphans(directory))
    assert [o.owner.split("-")[0] for o in found] == [str(owner.pid)]
    assert [row["call_id"] for row in found[0].rows()] == ["x"]


def test_a_live_journal_is_not_taken_by_a_peer_and_is_deleted_at_stop(
    services: Services, tmp_path: Path,
) -> None:
    directory = tmp_path / "j"
    mine, peer = usage(services, directory), usage(services, directory)
    mine.start()
    mine.record(entry())
    peer.start()
    assert peer.adopt() == 0
    assert rows(services) == 0
    mine.stop()
    peer.stop()
    assert rows(services) == 1
    assert list(directory.iterdir()) == []


DIAGNOSE = "/api/v1/models/breast-cancer-diagnosis/predict"
CLIENTS = 8


@dataclass
class Load:
    """What 8 clients sent and which calls were answered (2xx), by request id."""

    sent: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, server: LiveServer, stop: threading.Event) -> None:
        row = [float(v) for v in load_breast_cancer().data[0]]
        with server.client() as client:
            while not stop.is_set():
                rid = uuid.uuid4().hex
                with self.lock:
                    self.sent.add(rid)
                try:
                    response = client.post(DIAGNOSE, json={"inputs": [row]},
                                           headers={"X-Request-ID": rid})
                except httpx.HTTPError:
                    return  # the server is gone
                if response.is_success:
                    with self.lock:
                        self.answered.add(rid)


def usage_request_ids(data_dir: Path) -> list[str]:
    offline = Services.build(Settings(data_dir=data_dir, builtin_models=False))
    try:
        with offline.db.session() as session:
            return [rid for rid in session.scalars(select(UsageRecord.request_id)) if rid]
    finally:
        offline.db.dispose()


def test_kill_9_under_load_loses_no_answered_calls_usage(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    offline = Services.build(Settings(data_dir=data_dir, builtin_models=False))
    ensure_builtins(offline.registry, only={DIAGNOSIS})
    offline.db.dispose()
    load = Load()
    for _ in range(3):
        server = start_server(data_dir, AIAAS_BUILTIN_MODELS="false")
        try:
            with server.client() as client:  # the model loaded before the load starts
                rid = uuid.uuid4().hex
                assert client.post(DIAGNOSE, json={"inputs": [[1.0] * 30]},
                                   headers={"X-Request-ID": rid}).status_code == 200
                load.sent.add(rid)
                load.answered.add(rid)
            stop = threading.Event()
            before = len(load.answered)
            threads = [threading.Thread(target=load.client, args=(server, stop))
                       for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while len(load.answered) < before + 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            server.process.kill()  # SIGKILL, mid-load
            server.process.wait(timeout=30)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        finally:
            if server.process.poll() is None:
                server.process.kill()
    server = start_server(data_dir, AIAAS_BUILTIN_MODELS="false")  # replays the journals
    stop_server(server)
    recorded = usage_request_ids(data_dir)
    unanswered = load.sent - load.answered
    assert len(load.answered) >= 900
    assert len(recorded) == len(set(recorded)), "a call was counted twice"
    assert load.answered - set(recorded) == set(), "an answered call has no usage row"
    assert set(recorded) <= load.sent
    # A call whose answer was lost in the kill may have its row (the work was done, the row
    # written just before the answer), at most one per client per kill.
    extra = set(recorded) - load.answered
    assert extra <= unanswered and len(extra) <= 3 * CLIENTS
    assert len(recorded) == len(load.answered) + len(extra)
