"""The commands that run the ML backend: `serve`, `worker`, `run` (bulk pre-labelling), `jobs`, `settings`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from prelabel.cli.common import (
    CHECK_OPTION,
    SETUP_ERRORS,
    VOCAB_OPTION,
    BadInput,
    echo_err,
    open_parts,
    read_settings,
    read_vocabulary,
    stop_unless_the_endpoint_works,
)
from prelabel.jobs.queues import QUEUES
from prelabel.settings import Settings, documented


@click.command(epilog="""\b
Example:
  prelabel serve --port 9090 --workers 2
""")
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the ML backend for Label Studio under gunicorn."""
    import os
    import shutil

    settings = read_settings()  # a bad setting stops here with its message, not inside each gunicorn process
    for line in exposure_warnings(settings, host, port):
        echo_err(line)
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise BadInput("gunicorn is not installed")
    # Threads: an interactive /predict waits up to PRELABEL_SYNC_BUDGET seconds for a worker.
    os.execv(gunicorn, [gunicorn, "--bind", f"{host}:{port}", "--workers", str(workers), "--worker-class", "gthread",
                        "--threads", "8", "--timeout", "120", "--access-logfile", "-",
                        "prelabel.service.app:create_app()"])


def exposure_warnings(settings: Settings, host: str, port: int) -> list[str]:
    """Loud lines for a service that anyone on the network can use: no Basic auth on a non-loopback address."""
    import ipaddress

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False  # a host name: it may resolve to anything
    if settings.basic_auth_user and not settings.basic_auth_pass:
        return ["WARNING: BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty: the backend accepts an empty "
                "password. Set BASIC_AUTH_PASS (docs/security.md)."]
    if settings.basic_auth_user or loopback:
        return []
    bar = "WARNING: " + "!" * 100
    return [bar,
            f"WARNING: prelabel serve listens on {host}:{port} WITHOUT Basic auth (BASIC_AUTH_USER and "
            "BASIC_AUTH_PASS are empty).",
            "WARNING: anyone who reaches this port can queue predictions, read results and fill the queues.",
            "WARNING: set both (and the same on the backend in Label Studio: Connect model > Authentication),",
            "WARNING: or bind to 127.0.0.1 with --host. See docs/security.md.",
            bar]


@click.command(epilog="""\b
Examples:
  prelabel worker                                  # every queue, in priority order
  prelabel worker --queues prelabel-interactive --name gpu0
""")
@click.option("--queues", default=",".join(QUEUES),
              show_default=True, help="Queues to serve, in priority order.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
@click.option("--supervise", is_flag=True,
              help="Start the worker again whenever it dies (as `prelabel up` runs it); give it a --name.")
def worker(queues: str, burst: bool, name: str | None, supervise: bool) -> None:
    """Run a worker: loads the models once, then runs prediction and feedback jobs."""
    import logging

    from prelabel.jobs.worker import run_worker

    if supervise:
        from prelabel.local.processes import supervise as run_supervised

        command = [sys.argv[0], "worker", "--queues", queues] + (["--burst"] if burst else []) + (
            ["--name", name] if name else [])
        sys.exit(run_supervised(command, echo_err))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = read_settings()
    try:
        run_worker(settings, [q.strip() for q in queues.split(",") if q.strip()], burst=burst, name=name)
    except SETUP_ERRORS as exc:
        raise BadInput(str(exc)) from None


@click.command(epilog="""\b
Examples:
  prelabel check
  prelabel check --prompt-price 0.15 --completion-price 0.60    # gpt-4o-mini's prices, per million tokens
  prelabel check --regions    # which box convention the model writes, for region projects
""")
@VOCAB_OPTION
@click.option("--prompt-price", type=float, default=None, help="Price per million prompt tokens.")
@click.option("--completion-price", type=float, default=None, help="Price per million completion tokens.")
@click.option("--no-clip", is_flag=True, help="Skip loading CLIP (it takes seconds to minutes).")
@click.option("--regions", is_flag=True,
              help="Also ask for boxes, and tell which PRELABEL_BOX_CONVENTION the model writes (region projects).")
def check(vocab_path: str | None, prompt_price: float | None, completion_price: float | None, no_clip: bool,
          regions: bool) -> None:
    """Ask the configured MLLM endpoint one question about a generated image, and say what a run needs to know.

    Reachable or not (the URL and the setting), the model, whether it takes images, whether it honours
    structured output or needs the prompt-only form, the latency, tokens per image (and the cost per 1,000
    images, given prices), and whether CLIP loads. Exits 1 on anything that would make every task fail; `up`
    and `run` ask the same first (their --no-check skips it).
    """
    from prelabel.pipeline.probe import Prices, check_endpoint

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)
    prices = (Prices(prompt_price or 0.0, completion_price or 0.0, settings.price_currency)
              if prompt_price or completion_price else None)
    findings = check_endpoint(settings, vocabulary, prices, clip=not no_clip, regions=regions)
    for finding in findings:
        click.echo(f"{finding.topic:<11} {finding.text}")
    fatal = [finding for finding in findings if finding.fatal]
    if fatal:
        raise click.ClickException(f"every task would fail: see '{fatal[0].topic}' above")
    click.echo("OK: nothing here would make every task fail")


@click.command(epilog="""\b
Examples:
  prelabel run --project 12 --all
  prelabel run --project 12 --tasks 101,102,103 --no-wait
""")
@click.option("--project", "project_id", required=True, type=int, help="Label Studio project id.")
@click.option("--all", "all_tasks", is_flag=True, help="Every task of the project without a current prediction.")
@click.option("--tasks", "task_list", default=None, help="Comma-separated task ids.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until the jobs are done.")
@CHECK_OPTION
def run(project_id: int, all_tasks: bool, task_list: str | None, wait: bool, no_check: bool) -> None:
    """Queue a bulk pre-labelling of a project; workers write the predictions into Label Studio."""
    from prelabel.jobs import bulk
    from prelabel.pipeline.summary import every_image_failed
    from prelabel.studio.client import StudioError

    if all_tasks == bool(task_list):
        raise BadInput("give either --all or --tasks")
    try:
        wanted = {int(t) for t in task_list.split(",")} if task_list else None
    except ValueError:
        raise BadInput(f"--tasks: expected comma-separated integers, got {task_list!r}") from None
    settings = read_settings()
    if not no_check:
        stop_unless_the_endpoint_works(settings, read_vocabulary(settings.vocab))
    with open_parts(settings) as parts:
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
        try:
            outcome = bulk.follow(parts, queued.jobs, echo=echo_err)
        except bulk.RunLost as exc:
            raise click.ClickException(str(exc)) from None
    echo_err(outcome.summary())
    everything_failed = every_image_failed(outcome.tasks, outcome.causes, settings)
    if everything_failed:
        raise click.ClickException(everything_failed)
    if outcome.failed_jobs:
        sys.exit(1)


@click.command("jobs", epilog="""\b
Examples:
  prelabel jobs
  prelabel jobs --requeue
""")
@click.option("--requeue", is_flag=True, help="Put every failed job back in its queue.")
def list_jobs(requeue: bool) -> None:
    """Queues, and the failed jobs with their errors."""
    from prelabel.jobs import bulk

    with open_parts(read_settings()) as parts:
        for line in bulk.describe_queues(parts, requeue=requeue):
            click.echo(line)


@click.command("settings", epilog="""\b
Example:
  prelabel settings | grep PRELABEL_LLM
""")
def show_settings() -> None:
    """Every environment variable Prelabel reads, with its default."""
    for name, default, meaning in documented():
        click.echo(f"{name}={default}\n    {meaning}")
