"""The references in docs/ that the code itself holds: every command's `--help` (docs/cli.md) and every setting
with its default and meaning (docs/settings.md).

`scripts/gen-docs` writes them (`python -m prelabel.cli.reference`); tests/test_docs.py builds them in memory and
fails when the committed files differ, so a changed option or setting cannot leave its document behind.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click

from prelabel.cli import main
from prelabel.settings import documented

# Help is wrapped as on a terminal this wide, whatever terminal runs the generator, so the files are the same
# everywhere.
WIDTH = 100

CLI_HEADER = """\
# The `prelabel` command

Every command's `--help`, as `prelabel COMMAND --help` prints it, with an example of its use. Written from the
commands themselves (`backend/prelabel/cli/`, `backend/prelabel/report/cli.py`) by `scripts/gen-docs`: edit the
code, not this file. Every setting the commands read: [settings.md](settings.md); which command to run when:
[operations.md](operations.md).
"""

SETTINGS_HEADER = """\
# Settings

Every setting is an environment variable, read in one place (`backend/prelabel/settings.py`); nothing else reads
the environment. `prelabel settings` prints this table. Written from `settings.py` by `scripts/gen-docs`: edit the
code, not this file.

`docker-compose.yml` sets every one of them for the backend and the workers (`tests/test_compose.py` keeps it so);
its defaults differ where the compose network needs it ([deploy.md](deploy.md#every-variable)), and on purpose
for Basic auth: `BASIC_AUTH_USER` defaults to `prelabel` there, and `BASIC_AUTH_PASS` is required.
"""


def commands(command: click.Command, path: tuple[str, ...] = ("prelabel",),
             parent: click.Context | None = None) -> Iterator[tuple[tuple[str, ...], click.Context]]:
    """(command path, its context) for the command and every visible subcommand, in `--help`'s order."""
    if parent is None:
        context = click.Context(command, info_name=path[-1], terminal_width=WIDTH, max_content_width=WIDTH)
    else:
        context = click.Context(command, info_name=path[-1], parent=parent)
    yield path, context
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from commands(sub, (*path, name), context)


def cli_reference(root: click.Command) -> str:
    entries = list(commands(root))
    index = ", ".join(f"[{' '.join(path[1:])}](#{'-'.join(path)})" for path, _ in entries[1:])
    index_text = textwrap.fill(f"Commands: {index}.", 115, break_long_words=False, break_on_hyphens=False)
    parts = [CLI_HEADER, index_text + "\n"]
    for path, context in entries:
        parts.append(f"## {' '.join(path)}\n\n```text\n{context.command.get_help(context)}\n```\n")
    return "\n".join(parts)


def settings_reference() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, default, meaning in documented():
        shown = f"`{default}`" if default else "(empty)"
        rows.append(f"| `{name}` | {shown} | {meaning.replace('|', '&#124;')} |")
    return SETTINGS_HEADER + "\n" + "\n".join(rows) + "\n"


def references() -> dict[str, str]:
    """Each generated document, by its path from the repository root, as the code says it should read."""
    return {"docs/cli.md": cli_reference(main), "docs/settings.md": settings_reference()}


def write(root: Path) -> list[str]:
    """Write the references under `root` (the repository); the paths whose content changed."""
    changed = []
    for path, text in references().items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    written = write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
    print("\n".join(f"{path}: written" for path in written) or "docs/cli.md, docs/settings.md: already current")
