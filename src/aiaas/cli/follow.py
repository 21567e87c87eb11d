"""Following a training job in the terminal: its events drawn live on stderr, then the result.

Stepped work (``step``/``total`` in a progress event) moves one bar that shows the stage, the
epoch, the loss, validation metrics and the ETA the trainer reports; the bar goes when the job
ends. Milestones (progress events without a total), status changes and log messages are printed
as lines above it, so a log file or a pipe gets them too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from aiaas.cli.job_views import show_job
from aiaas.cli.output import note, number, report
from aiaas.client import Client, Job, JobEvent

_BAR_FIELDS = ("stage", "step", "total", "epoch", "loss", "eta_s")


def clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def values(data: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    """``key value`` pairs of the short scalar values of an event (nested ones left out)."""
    return "  ".join(f"{key} {number(value)}" for key, value in data.items()
                     if key not in skip and isinstance(value, int | float | str) and len(str(value)) < 40)


@contextlib.contextmanager
def _main_thread_takes_ctrl_c() -> Iterator[None]:
    """Threads started inside block SIGINT, so Ctrl-C always reaches the main thread. Else the
    kernel may hand it to the display's refresh thread while the main thread waits in a socket
    read for the next event (minutes, for a quiet job), and the interrupt lands only then."""
    if threading.current_thread() is not threading.main_thread() or os.name != "posix":
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class JobProgress:
    """Draws one job's events as they come (call it with each ``JobEvent``); a context manager
    around the live display."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                                 TextColumn("[dim]{task.fields[eta]}"), console=console,
                                 transient=True)
        self._bar: TaskID | None = None
        self._stage: str | None = None

    def __enter__(self) -> Self:
        with _main_thread_takes_ctrl_c():
            self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def __call__(self, event: JobEvent) -> None:
        when = event.time.strftime("%H:%M:%S") if event.time else "--:--:--"
        console = self.progress.console
        if event.type == "status":
            console.print(f"[dim]{when}[/] status [bold]{escape(str(event.status))}[/]  "
                          f"{escape(values(event.data, ('status',)))}", soft_wrap=True)
        elif event.type == "progress" and event.data.get("total"):
            self._advance(event.data)
        elif event.type == "progress":
            console.print(f"[dim]{when}[/] {escape(event.stage or 'progress')}  "
                          f"{escape(values(event.data, ('stage',)))}", soft_wrap=True)
        else:
            console.print(f"[dim]{when} {escape(event.type)} {escape(values(event.data))}[/]",
                          soft_wrap=True)

    def _advance(self, data: Mapping[str, Any]) -> None:
        stage = str(data.get("stage") or "training")
        shown = [f"epoch {data['epoch']}"] if data.get("epoch") is not None else []
        if isinstance(data.get("loss"), int | float):
            shown.append(f"loss {number(data['loss'])}")
        shown.append(values(data, _BAR_FIELDS))
        eta = data.get("eta_s")
        info = escape("  ".join(part for part in shown if part))
        left = f"ETA {clock(float(eta))}" if isinstance(eta, int | float) else ""
        total, step = float(data["total"]), float(data.get("step") or 0)
        if self._bar is None or stage != self._stage:
            if self._bar is not None:
                self.progress.stop_task(self._bar)
            self._bar = self.progress.add_task(escape(stage), total=total, info=info, eta=left)
            self._stage = stage
        self.progress.update(self._bar, completed=step, total=total, info=info, eta=left)


def follow(api: Client, job_id: str, *, as_json: bool, console: Console) -> Job:
    """Draw the job's events until it ends, then print it (a table, or JSON as the last thing on
    stdout). Exits 1 when it failed or was cancelled; Ctrl-C stops following (exit 130) and
    says how to follow or cancel again: the job keeps running."""
    try:
        with JobProgress(console) as view:
            job = api.wait_job(job_id, on_event=view)
    except KeyboardInterrupt:
        note(f"stopped following job {job_id}; it keeps running. Follow it again with: "
             f"aiaas jobs follow {job_id}   cancel it with: aiaas jobs cancel {job_id}")
        raise typer.Exit(130) from None
    show_job(job, as_json=as_json)
    if not job.succeeded:
        report(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        raise typer.Exit(1)
    return job
