"""Commands for a Label Studio project and a local deployment: `setup`, `up`, `down`."""

from __future__ import annotations

from pathlib import Path

import click

from prelabel.cli.common import (
    CHECK_OPTION,
    FORCE_CONFIG_OPTION,
    LANGUAGE_OPTION,
    REGIONS_OPTION,
    VOCAB_OPTION,
    BadInput,
    echo_err,
    open_parts,
    read_settings,
    read_vocabulary,
    stop_unless_the_endpoint_works,
)


@click.command(epilog="""\b
Examples:
  prelabel setup --title "Pests 2026" --images /srv/ls-files/batch1 --backend-url http://backend:9090
  prelabel run --project "$(prelabel setup --project 12 --backend-url http://backend:9090)" --all
""")
@click.option("--project", "project_id", type=int, default=None, help="An existing project's id.")
@click.option("--title", default=None, help="The project's title: found by exact title, or created.")
@click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A directory of photos below LOCAL_FILES_DOCUMENT_ROOT, as Label Studio's machine sees it.")
@click.option("--urls", "urls_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A text file of image URLs, one a line: one task each.")
@click.option("--backend-url", default=None, help="Where Label Studio reaches `prelabel serve`, e.g. http://host:9090.")
@VOCAB_OPTION
@LANGUAGE_OPTION
@REGIONS_OPTION
@FORCE_CONFIG_OPTION
def setup(project_id: int | None, title: str | None, images_dir: Path | None, urls_file: Path | None,
          backend_url: str | None, vocab_path: str | None, language: str | None, regions: bool,
          force_config: bool) -> None:
    """Make a Label Studio project ready for Prelabel; running it again changes nothing.

    Creates the project (labeling config from the vocabulary, in --language, with boxes over the image with
    --regions) or keeps an existing one's config
    (--force replaces it), adds a Local Files storage for
    --images and syncs it (or imports --urls), connects the backend at --backend-url with BASIC_AUTH_USER /
    BASIC_AUTH_PASS, keeps project.model_version equal to the backend's, and checks the webhook. Prints the
    project id on stdout.
    """
    from prelabel.studio.client import StudioError
    from prelabel.studio.labelconfig import make_label_config, read_label_config
    from prelabel.studio.setup import Wanted, set_up

    if (project_id is None) == (title is None):
        raise BadInput("give either --project ID or --title TITLE")
    if title is not None and len(title.strip()) < 3:
        raise BadInput("--title: Label Studio needs at least 3 characters")
    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)
    config = make_label_config(vocabulary, settings.none_choice, language, regions)
    urls: tuple[str, ...] = ()
    if urls_file is not None:
        urls = tuple(line.strip() for line in urls_file.read_text(encoding="utf-8").splitlines() if line.strip())
    wanted = Wanted(label_config=config, title=title, project_id=project_id, images_dir=images_dir,
                    image_urls=urls, data_key=read_label_config(config, vocabulary).control.data_key,
                    backend_url=backend_url, review_tab=settings.list_columns, replace_config=force_config,
                    basic_auth=(settings.basic_auth_user, settings.basic_auth_pass) if settings.basic_auth_user
                    else None)
    with open_parts(settings) as parts:
        try:
            ready = set_up(parts.studio, wanted, say=echo_err)
        except StudioError as exc:
            raise click.ClickException(str(exc)) from None
    echo_err(f"project {ready.project_id} {ready.title!r}: {ready.tasks} task(s), model_version "
             f"{ready.model_version or '(none)'}, {settings.label_studio_url.rstrip('/')}/projects/{ready.project_id}"
             + ("" if ready.changes else "; nothing changed"))
    click.echo(ready.project_id)


@click.command(epilog="""\b
Examples:
  prelabel up --images examples/images
  PRELABEL_CLIP_MODEL= prelabel up --images photos/ --label-studio-port 0   # the MLLM alone, any free port
""")
@click.option("--images", "images_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder of photos to pre-label.")
@click.option("--dir", "up_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where `up` keeps its state, logs, secrets and data (default: PRELABEL_DATA_DIR/up).")
@click.option("--title", default=None, help="The project's title (default: Prelabel <folder name>).")
@click.option("--label-studio-port", default=8080, show_default=True, type=int,
              help="Label Studio's port, if free (0: any free port).")
@click.option("--backend-port", default=9090, show_default=True, type=int,
              help="The backend's port, if free (0: any free port).")
@click.option("--redis-port", default=0, show_default=True, type=int,
              help="The port of `up`'s own Redis, if free (0: any free port).")
@VOCAB_OPTION
@LANGUAGE_OPTION
@FORCE_CONFIG_OPTION
@CHECK_OPTION
def up(images_dir: Path, up_dir: Path | None, title: str | None, label_studio_port: int, backend_port: int,
       redis_port: int, vocab_path: str | None, language: str | None, force_config: bool, no_check: bool) -> None:
    """Pre-label a folder of photos in a local Label Studio: one command, no Docker.

    Starts what is not running (Redis, Label Studio 1.23.2 in its own venv, `prelabel serve`, one `prelabel
    worker`), makes the project ready (`prelabel setup`), queues the pre-labels with a progress bar, and says
    what runs where. A second `up` reuses all of it; `prelabel down` stops it.

    The MLLM's answers are cached in PRELABEL_DATA_DIR/mllm-cache.sqlite (not in --dir), keyed by the
    endpoint's base URL, the model and the prompt: a second run of the same photos with the same model asks
    nothing again, and the closing summary says how many answers came from the cache.
    """
    from prelabel.jobs.bulk import RunLost
    from prelabel.local.labelstudio import LabelStudioError
    from prelabel.local.services import ServiceError
    from prelabel.local.up import Options, UpError, bring_up
    from prelabel.studio.client import StudioError

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)  # a broken vocabulary stops here, before anything starts
    if title is not None and len(title.strip()) < 3:
        raise BadInput("--title: Label Studio needs at least 3 characters")
    if not no_check:
        stop_unless_the_endpoint_works(settings, vocabulary)
    directory = up_dir or Path(settings.data_dir) / "up"
    options = Options(images_dir, directory, title, label_studio_port, backend_port, redis_port, language,
                      force_config)
    try:
        report = bring_up(settings, options, say=echo_err)
    except UpError as exc:
        raise BadInput(str(exc)) from None
    except (ServiceError, LabelStudioError, StudioError, RunLost) as exc:
        raise click.ClickException(f"{exc}\n(what did start is recorded: `prelabel down --dir {directory}` "
                                   "stops it)") from None
    from prelabel.local.state import BACKEND_USER, LABEL_STUDIO_USER, State
    from prelabel.redact import redact_url

    state = State.load(directory)
    running = state.processes
    echo_err("")
    echo_err(f"Label Studio  {report.label_studio_url}/projects/{report.project_id}  (project "
             f"{report.project_title!r}: {report.tasks} task(s), model_version {report.model_version})")
    echo_err(f"              log in as {LABEL_STUDIO_USER}, password in {state.secret_path('label-studio-password')}")
    echo_err(f"Backend       {report.backend_url}  (Basic auth {BACKEND_USER}, password in "
             f"{state.secret_path('backend-password')})")
    echo_err(f"Worker        1, queues in {redact_url(report.redis_url)}  (password in "
             f"{state.secret_path('redis-password')})")
    echo_err("Processes     " + ", ".join(f"{name} pid {p.pid}" for name, p in running.items())
             + f"; logs in {state.logs}")
    if report.failed_jobs:
        echo_err(f"{report.failed_jobs} job(s) failed: `prelabel jobs` with REDIS_URL={redact_url(report.redis_url)} "
                 "(the password from the file above) says why")
    nothing = not report.started and not report.changes and not report.queued
    echo_err("Everything was already up: nothing changed." if nothing else
             f"Started: {', '.join(report.started) or 'nothing'}; pre-labelled {report.written} task(s) now.")
    echo_err(f"Stop it all: prelabel down --dir {directory}")
    if report.everything_failed:
        raise click.ClickException(report.everything_failed)


@click.command(epilog="""\b
Examples:
  prelabel down
  prelabel down --dir var/up
""")
@click.option("--dir", "up_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The directory `up` used (default: PRELABEL_DATA_DIR/up).")
def down(up_dir: Path | None) -> None:
    """Stop exactly what `prelabel up` started (by the pids in its state file); data and secrets stay."""
    from prelabel.local.up import bring_down

    directory = up_dir or Path(read_settings().data_dir) / "up"
    if not (directory / "state.json").exists():
        echo_err(f"nothing to stop: no {directory / 'state.json'}")
        return
    running = bring_down(directory, say=echo_err)
    echo_err(f"{running} process(es) stopped" if running else "nothing was running")
