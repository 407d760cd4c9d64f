"""Commands for a Label Studio project and a local deployment: `setup`, `up`, `down`."""

from __future__ import annotations

from pathlib import Path

import click

from prelabel.cli.common import VOCAB_OPTION, BadInput, echo_err, open_parts, read_settings, read_vocabulary


@click.command()
@click.option("--project", "project_id", type=int, default=None, help="An existing project's id.")
@click.option("--title", default=None, help="The project's title: found by exact title, or created.")
@click.option("--images", "images_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="A directory of photos below Label Studio's LOCAL_FILES_DOCUMENT_ROOT: a Local Files storage.")
@click.option("--urls", "urls_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A text file of image URLs, one a line: one task each.")
@click.option("--backend-url", default=None, help="Where Label Studio reaches `prelabel serve`, e.g. http://host:9090.")
@VOCAB_OPTION
def setup(project_id: int | None, title: str | None, images_dir: Path | None, urls_file: Path | None,
          backend_url: str | None, vocab_path: str | None) -> None:
    """Make a Label Studio project ready for Prelabel; running it again changes nothing.

    Creates or updates the project (labeling config from the vocabulary), adds a Local Files storage for
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
    config = make_label_config(vocabulary)
    urls: tuple[str, ...] = ()
    if urls_file is not None:
        urls = tuple(line.strip() for line in urls_file.read_text(encoding="utf-8").splitlines() if line.strip())
    wanted = Wanted(label_config=config, title=title, project_id=project_id, images_dir=images_dir,
                    image_urls=urls, data_key=read_label_config(config, vocabulary).control.data_key,
                    backend_url=backend_url,
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
