"""``aiaas jobs ...``: training jobs through the SDK: list, show, follow, cancel, logs, plots."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.follow import follow as follow_job
from aiaas.cli.job_views import jobs_table, show_job
from aiaas.cli.output import err, out, print_json

app = typer.Typer(help="List, show, follow and cancel training jobs; read their logs and plots.",
                  no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The job's id (aiaas train prints it).")]


@app.command("list")
def list_jobs(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most jobs to list.")] = 20,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your tenant's jobs, newest first."""
    with client(url, api_key) as api:
        jobs = api.list_jobs(limit=limit)
    if as_json:
        print_json(jobs)
        return
    out.print(jobs_table(jobs))


@app.command()
def show(job_id: JobId, url: UrlOption = None, api_key: ApiKeyOption = None,
         as_json: JsonOption = False) -> None:
    """A job's state, its result and its test metrics."""
    with client(url, api_key) as api:
        job = api.get_job(job_id)
    show_job(job, as_json=as_json)


@app.command()
def follow(job_id: JobId, url: UrlOption = None, api_key: ApiKeyOption = None,
           as_json: JsonOption = False) -> None:
    """Follow a job live (progress on stderr) until it ends, then print its result; exits 1 when
    it failed or was cancelled. Ctrl-C stops following; the job keeps running."""
    with client(url, api_key) as api:
        follow_job(api, job_id, as_json=as_json, console=err)


@app.command()
def cancel(job_id: JobId, url: UrlOption = None, api_key: ApiKeyOption = None,
           as_json: JsonOption = False) -> None:
    """Cancel a job: a queued one at once, a running one at its next progress point."""
    with client(url, api_key) as api:
        job = api.cancel_job(job_id)
    if as_json:
        print_json(job)
        return
    if job.status == "cancelled":
        out.print(f"job {job.id} cancelled")
    else:
        out.print(f"job {job.id}: cancel requested; it stops at its next progress point "
                  f"(watch it with: aiaas jobs follow {job.id})")


@app.command()
def logs(job_id: JobId, url: UrlOption = None, api_key: ApiKeyOption = None,
         as_json: JsonOption = False) -> None:
    """A job's events as text lines (with --json: {"job", "logs"})."""
    with client(url, api_key) as api:
        text = api.job_logs(job_id)
    if as_json:
        print_json({"job": job_id, "logs": text})
        return
    sys.stdout.write(text)
    sys.stdout.flush()


@app.command()
def plot(
    job_id: JobId,
    name: Annotated[str, typer.Argument(
        help="confusion_matrix, roc_curve, training_curve, predicted_vs_actual, ... "
             "('aiaas jobs show' lists the job's).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File or directory to write (default: ./<job>-<name>.png).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save a plot a job drew, as PNG."""
    with client(url, api_key) as api:
        written = api.download_plot(job_id, name, output or Path(f"{job_id}-{name}.png"))
    if as_json:
        print_json({"job": job_id, "plot": name, "path": str(written)})
        return
    out.print(f"wrote {written}")
