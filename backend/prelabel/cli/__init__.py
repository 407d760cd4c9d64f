"""The `prelabel` command: one subcommand per job, each a thin shell over the package that does the work."""

from __future__ import annotations

import click

from prelabel.cli.backend import list_jobs, run, serve, show_settings, worker
from prelabel.cli.local import down, setup, up
from prelabel.cli.predict import normalize, predict
from prelabel.cli.vocab import vocab
from prelabel.report.cli import add_commands as add_report_commands


@click.group()
@click.version_option(package_name="prelabel")
def main() -> None:
    """Prelabel: pre-labels inspection photos for Label Studio."""


for command in (normalize, predict, vocab, serve, worker, run, list_jobs, show_settings, setup, up, down):
    main.add_command(command)
add_report_commands(main)  # `prelabel report` and `prelabel sample` (backend/prelabel/report/)
