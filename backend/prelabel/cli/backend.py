"""The commands that run the ML backend: `serve`, `worker`, `run` (bulk pre-labelling), `jobs`, `settings`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from prelabel.cli.common import SETUP_ERRORS, BadInput, echo_err, open_parts, read_settings
from prelabel.jobs.queues import QUEUES
from prelabel.settings import documented


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the ML backend for Label Studio under gunicorn."""
    import os
    import shutil

    read_settings()  # a bad setting stops here with its message, not inside each gunicorn process
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise BadInput("gunicorn is not installed")
    # Threads: an interactive /predict waits up to PRELABEL_SYNC_BUDGET seconds for a worker.
    os.execv(gunicorn, [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers), "--worker-class", "gthread",
                        "--threads", "8", "--timeout", "120", "--access-logfile", "-",
                        "prelabel.service.app:create_app()"])


@click.command()
@click.option("--queues", default=",".join(QUEUES),
              show_default=True, help="Queues to serve, in priority order.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
def worker(queues: str, burst: bool, name: str | None) -> None:
    """Run a worker: loads the models once, then runs prediction and feedback jobs."""
    import logging

    from prelabel.jobs.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = read_settings()
    try:
        run_worker(settings, [q.strip() for q in queues.split(",") if q.strip()], burst=burst, name=name)
    except SETUP_ERRORS as exc:
        raise BadInput(str(exc)) from None


@click.command()
@click.option("--project", "project_id", required=True, type=int, help="Label Studio project id.")
@click.option("--all", "all_tasks", is_flag=True, help="Every task of the project without a current prediction.")
@click.option("--tasks", "task_list", default=None, help="Comma-separated task ids.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until the jobs are done.")
def run(project_id: int, all_tasks: bool, task_list: str | None, wait: bool) -> None:
    """Queue a bulk pre-labelling of a project; workers write the predictions into Label Studio."""
    from prelabel.jobs import bulk
    from prelabel.studio.client import StudioError

    if all_tasks == bool(task_list):
        raise BadInput("give either --all or --tasks")
    try:
        wanted = {int(t) for t in task_list.split(",")} if task_list else None
    except ValueError:
        raise BadInput(f"--tasks: expected comma-separated integers, got {task_list!r}") from None
    with open_parts(read_settings()) as parts:
        try:
            queued = bulk.queue_project(parts, project_id, wanted)
        except StudioError as exc:
            raise click.ClickException(str(exc)) from None
        except SETUP_ERRORS as exc:
            raise BadInput(str(exc)) from None
        echo_err(f"project {project_id}: {queued.tasks} task(s) queued in {len(queued.jobs)} job(s), "
                 f"{queued.skipped} already pre-labelled as {queued.model_version}")
        if not (wait and queued.jobs):
            return
        outcome = bulk.follow(parts.redis, queued.jobs, echo=echo_err)
    echo_err(outcome.summary())
    if outcome.failed_jobs:
        sys.exit(1)


@click.command("jobs")
@click.option("--requeue", is_flag=True, help="Put every failed job back in its queue.")
def list_jobs(requeue: bool) -> None:
    """Queues, and the failed jobs with their errors."""
    from prelabel.jobs import bulk

    with open_parts(read_settings()) as parts:
        for line in bulk.describe_queues(parts.redis, requeue=requeue):
            click.echo(line)


@click.command("settings")
def show_settings() -> None:
    """Every environment variable Prelabel reads, with its default."""
    for name, default, meaning in documented():
        click.echo(f"{name}={default}\n    {meaning}")
