"""The `prelabel` command: one subcommand per job, each a thin shell over the package that does the work.

By audience: `predict` (the pipeline on files: `normalize`, `predict`), `vocab` (the domain expert's commands),
`backend` (`serve`, `worker`, `check`, `run`, `jobs`, `settings`), `local` (`setup`, `up`, `down`); `prelabel
report`, `prelabel sample` and `prelabel accept` live in prelabel.report. `common` holds what every command shares;
`reference` writes docs/cli.md and docs/settings.md from the commands and the settings (`scripts/gen-docs`).
"""

from __future__ import annotations

from typing import Any

import click

from prelabel.cli.backend import check, list_jobs, run, serve, show_settings, worker
from prelabel.cli.local import down, setup, up
from prelabel.cli.predict import normalize, predict
from prelabel.cli.vocab import vocab
from prelabel.redact import Redactor, secrets_of
from prelabel.report.cli import add_commands as add_report_commands
from prelabel.settings import Settings, SettingsError


class _Group(click.Group):
    """Every command's error message leaves with credentials masked (a database URL's password, a token)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            try:
                redact = Redactor(secrets_of(Settings.from_env()))
            except SettingsError:
                redact = Redactor()
            setattr(exc, "message", redact(exc.message))  # noqa: B010 (Final in click's type hints)
            raise


@click.group(cls=_Group, epilog="""\b
Examples:
  prelabel up --images examples/images        # everything on this machine
  prelabel normalize --vocab vocab/plant-quarantine-pests.yaml < examples/answers.txt
  prelabel COMMAND --help                     # each command's options, with examples
""")
@click.version_option(package_name="prelabel")
def main() -> None:
    """Prelabel: pre-labels inspection photos for Label Studio."""


for command in (normalize, predict, vocab, serve, worker, check, run, list_jobs, show_settings, setup, up, down):
    main.add_command(command)
add_report_commands(main)  # `prelabel report`, `sample` and `accept` (backend/prelabel/report/)
