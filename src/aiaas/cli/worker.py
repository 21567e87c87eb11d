"""``aiaas worker``: one more training worker, in the foreground, on the server's database."""

from __future__ import annotations

from aiaas.cli.common import DatabaseUrlOption, DataDirOption
from aiaas.cli.output import note


def worker(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Run a training worker until interrupted: it claims queued jobs from the database the
    server uses (same --data-dir / --database-url) and trains them. The server starts one by
    itself; run more for jobs in parallel. Ctrl-C or SIGTERM marks the job in hand failed."""
    from aiaas.config import load_settings
    from aiaas.training import worker as training_worker

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    note(f"training worker on data dir {settings.data_dir} ({settings.sqlalchemy_url.split('://')[0]}); "
         "Ctrl-C stops it")
    if settings.ray_address:
        from aiaas.cluster.worker import ClusterJobs

        note(f"jobs train as Ray tasks on {settings.ray_address}")
        training_worker.run(settings, run_job=ClusterJobs(settings))
        return
    training_worker.run(settings)
