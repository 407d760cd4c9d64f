"""`prelabel vocab ...`: the domain expert's commands (descriptions, learned synonyms, export, labeling config)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import click

from prelabel.cli.common import VOCAB_OPTION, BadInput, open_parts, read_settings, read_vocabulary
from prelabel.learning.rules import Learning
from prelabel.pipeline.descriptions import DescriptionsError
from prelabel.redact import redact_url
from prelabel.settings import Settings
from prelabel.vocabulary.normalize import Normalizer


@click.group()
def vocab() -> None:
    """Work on vocabularies: class descriptions, learned synonyms, export, labeling config."""


@vocab.command()
@VOCAB_OPTION
@click.option("--force", is_flag=True, help="Regenerate descriptions that are already in the file.")
def describe(vocab_path: str | None, force: bool) -> None:
    """Write five class descriptions per label with the MLLM into <vocab>.descriptions.yaml."""
    from prelabel.pipeline.descriptions import describe_vocabulary, descriptions_path
    from prelabel.pipeline.factory import mllm_client
    from prelabel.pipeline.mllm import MLLMError

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)
    client = mllm_client(settings)
    if client is None:
        raise BadInput("PRELABEL_LLM_BASE_URL is not set: describing classes needs an MLLM endpoint")
    path = descriptions_path(settings.vocab)
    try:
        done = describe_vocabulary(vocabulary, path, client.describe_class, force=force,
                                   progress=lambda label: click.echo(f"described {label}", err=True))
    except DescriptionsError as exc:
        raise BadInput(str(exc)) from None
    except MLLMError as exc:
        raise click.ClickException(f"the MLLM failed ({exc}); what was described before is saved in {path}") from None
    click.echo(f"{len(done)} label(s) described, {len(vocabulary) - len(done)} already in {path}", err=True)


@contextmanager
def open_learning(vocab_path: str | None) -> Iterator[tuple[Settings, Learning]]:
    """The learned store under the rules, over the expert's vocabulary as written."""
    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)
    with open_parts(settings) as parts:
        try:
            store = parts.store
        except Exception as exc:  # a bad PRELABEL_DATABASE_URL, an unreachable PostgreSQL
            raise BadInput(f"cannot open the learned store {redact_url(settings.learned_url)}: {exc}") from None
        yield settings, Learning(store, Normalizer(vocabulary), settings.promote_after)


@vocab.command()
@VOCAB_OPTION
def review(vocab_path: str | None) -> None:
    """Pending learned synonyms and conflicts, with counts, reviewers and example tasks."""
    with open_learning(vocab_path) as (settings, learning):
        found = learning.review()
    base = settings.label_studio_url.rstrip("/")

    def links(tasks) -> str:
        return " ".join(f"{base}/projects/{project}/data?task={task}" for project, task in tasks)

    click.echo(f"synonyms in force: {len(found['in_force'])}")
    for string, label in found["in_force"]:
        click.echo(f"  {string!r} -> {label}")
    click.echo(f"pending (promoted after {settings.promote_after} agreeing annotations from 2+ reviewers, "
               f"or `prelabel vocab accept`): {len(found['pending'])}")
    for entry in sorted(found["pending"], key=lambda e: -e["count"]):
        click.echo(f"  {entry['string']!r} -> {entry['label']}: {entry['count']} annotation(s), reviewers "
                   f"{entry['reviewers']}  {links(entry['tasks'])}")
    click.echo(f"conflicts (never promoted automatically): {len(found['conflicts'])}")
    for entry in found["conflicts"]:
        click.echo(f"  {entry['string']!r} -> {entry['label']} ({entry['status']}): {entry['count']} annotation(s), "
                   f"but also {entry['other_labels']}  {links(entry['tasks'])}")
    click.echo(f"new class? (labels outside the vocabulary): {len(found['new_classes'])}")
    for entry in found["new_classes"]:
        click.echo(f"  {entry['label']!r}: {entry['count']} annotation(s), MLLM said {entry['strings']}  "
                   f"{links(entry['tasks'])}")
    click.echo("evidence: " + ", ".join(f"{kind} {count}" for kind, count in sorted(found["evidence"].items())))


@vocab.command()
@click.argument("string")
@click.argument("label")
@VOCAB_OPTION
@click.option("--by", default=None, help="Who decides (default: the login name).")
def accept(string: str, label: str, vocab_path: str | None, by: str | None) -> None:
    """Put STRING in force as a synonym of LABEL."""
    decide(string, label, vocab_path, by, accept=True)


@vocab.command()
@click.argument("string")
@click.argument("label")
@VOCAB_OPTION
@click.option("--by", default=None, help="Who decides (default: the login name).")
def reject(string: str, label: str, vocab_path: str | None, by: str | None) -> None:
    """Never use STRING as a synonym of LABEL (nor promote it automatically)."""
    decide(string, label, vocab_path, by, accept=False)


def decide(string: str, label: str, vocab_path: str | None, by: str | None, accept: bool) -> None:
    import getpass

    with open_learning(vocab_path) as (_, learning):
        try:
            click.echo(learning.decide(string, label, accept=accept, by=by or getpass.getuser()))
        except ValueError as exc:
            raise BadInput(str(exc)) from None


@vocab.command()
@VOCAB_OPTION
@click.option("--out", "out_path", default="-", show_default=True, help="Where to write the YAML (- for stdout).")
def export(vocab_path: str | None, out_path: str) -> None:
    """Write the merged dictionary (the expert's file plus the synonyms in force) as YAML."""
    from prelabel.vocabulary.vocab import dump_vocabulary, with_learned

    with open_learning(vocab_path) as (_, learning):
        merged = with_learned(learning.normalizer.vocabulary, learning.store.synonyms_in_force())
    text = dump_vocabulary(merged)
    if out_path == "-":
        click.echo(text, nl=False)
    else:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_path} (version {merged.version})", err=True)


@vocab.command("log")
@VOCAB_OPTION
@click.option("--limit", default=50, show_default=True, type=int)
def change_log(vocab_path: str | None, limit: int) -> None:
    """The change log of learned synonyms: what, when, from which annotations or command."""
    from datetime import datetime

    with open_learning(vocab_path) as (_, learning):
        changes = learning.changes(limit)
    for at, what, string, label, source in changes:
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{when}  {what:9} {string!r} -> {label}  ({source})")


@vocab.command("labelconfig")
@VOCAB_OPTION
def labelconfig(vocab_path: str | None) -> None:
    """Print a Label Studio labeling config with one <Choice> per label of the vocabulary."""
    from prelabel.studio.labelconfig import make_label_config

    click.echo(make_label_config(read_vocabulary(read_settings(vocab=vocab_path).vocab)), nl=False)
