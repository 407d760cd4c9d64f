"""`prelabel vocab ...`: the domain expert's commands (descriptions, suggested names, learned synonyms, export,
labeling config). Each says what it did, or that there was nothing to do, and what was flagged and why."""

from __future__ import annotations

import getpass
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from prelabel.cli.common import (
    LANGUAGE_OPTION,
    REGIONS_OPTION,
    VOCAB_OPTION,
    BadInput,
    echo_err,
    open_parts,
    read_settings,
)
from prelabel.learning.in_force import expert_vocabulary
from prelabel.learning.review import ReviewEntry, SynonymReview, TaskRef
from prelabel.learning.rules import Learning
from prelabel.redact import redact_url
from prelabel.settings import Settings
from prelabel.text import quote
from prelabel.vocabulary import suggested as suggestions_file
from prelabel.vocabulary.normalize import Normalizer
from prelabel.vocabulary.vocab import Label, VocabError, Vocabulary


@click.group(epilog="""\b
Examples:
  prelabel vocab describe --vocab vocab/plant-quarantine-pests.yaml
  prelabel vocab review
""")
def vocab() -> None:
    """Work on vocabularies: class descriptions, suggested names, learned synonyms, export, labeling config."""


def read_expert_vocabulary(path: str) -> Vocabulary:
    """The expert's file and the suggested names they accepted; exit 2 with every problem otherwise."""
    try:
        return expert_vocabulary(path)
    except (VocabError, suggestions_file.SuggestedError) as exc:
        raise BadInput(str(exc)) from None


def flag_summary(flags: Sequence[object]) -> str:
    """'3 flagged (2 no answer, 1 refusal)': the count of each kind of flag."""
    kinds = Counter(getattr(flag, "kind", str(flag).split(": ")[0]) for flag in flags)
    return f"{len(flags)} flagged" + (f" ({', '.join(f'{n} {kind}' for kind, n in kinds.most_common())})"
                                      if flags else "")


@vocab.command(epilog="""\b
Example:
  prelabel vocab describe --vocab vocab/plant-quarantine-pests.yaml
""")
@VOCAB_OPTION
@click.option("--force", is_flag=True, help="Describe every label again, asking the MLLM past its cache.")
def describe(vocab_path: str | None, force: bool) -> None:
    """Write five class descriptions per label with the MLLM into <vocab>.descriptions.yaml, after checks."""
    from prelabel.pipeline.factory import mllm_client
    from prelabel.pipeline.mllm import MLLMError
    from prelabel.vocabulary.descriptions import DescriptionsError, class_name, describe_vocabulary, descriptions_path
    from prelabel.vocabulary.screening import check_description

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_expert_vocabulary(settings.vocab)
    client = mllm_client(settings)
    if client is None:
        raise BadInput("PRELABEL_LLM_BASE_URL is not set: describing classes needs an MLLM endpoint")
    normalizer = Normalizer(vocabulary)
    path = descriptions_path(settings.vocab)

    def describe_one(entry: Label) -> list[tuple[str, object | None]]:
        return client.describe_class(class_name(entry), force=force,
                                     check=lambda text: check_description(text, entry.label, normalizer))

    def progress(label: str, kept: int, flagged: int) -> None:
        echo_err(f"described {label}: {kept} kept" + (f", {flagged} flagged" if flagged else ""))

    try:
        report = describe_vocabulary(vocabulary, path, describe_one, force=force, progress=progress)
    except DescriptionsError as exc:
        raise BadInput(str(exc)) from None
    except MLLMError as exc:
        raise click.ClickException(f"the MLLM failed ({exc}); what was described before is saved in {path}") from None
    if not report.described and not report.empty:
        echo_err(f"nothing to describe: all {report.skipped} label(s) have descriptions in {path} "
                 f"(--force describes them again)")
        return
    for label, text, flag in report.flagged:
        echo_err(f"  flagged {label}: {text[:80]!r}: {flag}")
    echo_err(f"{len(report.described)} label(s) described: {report.kept} description(s) kept, "
             f"{flag_summary([flag for _, _, flag in report.flagged])}; {report.skipped} label(s) already in {path}")
    if report.empty:
        echo_err(f"every description was flagged for {len(report.empty)} label(s), left out to be asked again: "
                 f"{', '.join(report.empty)}")
    echo_err(f"CLIP reads the descriptions: the service and workers using {settings.vocab} pick them up at their "
             f"next request or job, no restart; model_version changes only while CLIP is on"
             + ("" if settings.clip_enabled else " (it is off here: PRELABEL_CLIP_MODEL is empty)"))


@vocab.command(epilog="""\b
Example:
  prelabel vocab suggest --vocab vocab/manufacturing-defects.yaml --labels "weld crack,cold shut"
""")
@VOCAB_OPTION
@click.option("--labels", "only", default=None, help="Comma-separated labels to ask about (default: all).")
@click.option("--force", is_flag=True, help="Ask again for labels that already have suggestions, past the cache.")
def suggest(vocab_path: str | None, only: str | None, force: bool) -> None:
    """Ask the MLLM for other names of each label into <vocab>.suggested.yaml, for an expert to accept or reject."""
    from prelabel.pipeline.factory import mllm_client
    from prelabel.pipeline.mllm import MLLMError

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_expert_vocabulary(settings.vocab)
    labels = [label.strip() for label in only.split(",") if label.strip()] if only else None
    unknown = sorted(set(labels or ()) - set(vocabulary.label_values))
    if unknown:
        raise BadInput(f"not labels of the vocabulary: {', '.join(unknown)}")
    client = mllm_client(settings)
    if client is None:
        raise BadInput("PRELABEL_LLM_BASE_URL is not set: suggesting names needs an MLLM endpoint")
    languages = sorted({language for entry in vocabulary for language in entry.common}) or ["en"]
    path = suggestions_file.suggested_path(settings.vocab)

    def ask(entry: Label) -> list[suggestions_file.Suggestion]:
        try:
            found = client.suggest_names(entry.label, [name.text for name in entry.names()], vocabulary.domain,
                                         languages, force=force)
        except MLLMError as exc:
            if exc.cause not in ("malformed", "refused"):
                raise  # the endpoint failed: stop, keeping what was asked before
            raise suggestions_file.UnusableAnswer(str(exc)) from None
        return [suggestions_file.Suggestion(
            entry.label, item["name"], item["kind"] if item["kind"] in suggestions_file.KINDS else "common",
            suggestions_file.parse_language(item.get("language"), item["name"], languages)
            if item["kind"] not in ("scientific", "alias") else None) for item in found]

    def progress(label: str, found: list[suggestions_file.Suggestion]) -> None:
        pending = sum(s.status == suggestions_file.PENDING for s in found)
        echo_err(f"suggested for {label}: {pending} to review" + (
            f", {len(found) - pending} flagged or decided before" if len(found) > pending else ""))

    try:
        report = suggestions_file.suggest_vocabulary(vocabulary, path, ask, Normalizer(vocabulary), labels, force,
                                                     progress)
    except suggestions_file.SuggestedError as exc:
        raise BadInput(str(exc)) from None
    except MLLMError as exc:
        raise click.ClickException(f"the MLLM failed ({exc}); what was suggested before is saved in {path}") from None
    if not report.asked:
        echo_err(f"nothing to suggest: every label asked for already has suggestions in {path} "
                 f"(--force asks again)")
        return
    for suggestion in report.flagged:
        echo_err(f"  flagged {suggestion.label}: {suggestion.name!r}: {suggestion.reason}")
    flagged = flag_summary([s.reason for s in report.flagged])
    echo_err(f"{len(report.asked)} label(s) asked: {report.kept} name(s) to review, {flagged}, "
             f"{report.already_named} already names of their label; review them with `prelabel vocab review`")
    if report.unusable:
        echo_err(f"no usable answer for {len(report.unusable)} label(s), asked again next time: "
                 f"{'; '.join(f'{label} ({why})' for label, why in report.unusable)}")


@contextmanager
def open_learning(vocab_path: str | None) -> Iterator[tuple[Settings, Learning]]:
    """The learned store under the rules, over the vocabulary experts decided (their file, accepted names)."""
    settings = read_settings(vocab=vocab_path)
    vocabulary = read_expert_vocabulary(settings.vocab)
    with open_parts(settings) as parts:
        try:
            store = parts.store
        except Exception as exc:  # a bad PRELABEL_DATABASE_URL, an unreachable PostgreSQL
            raise BadInput(f"cannot open the learned store {redact_url(settings.learned_url)}: {exc}") from None
        yield settings, Learning(store, Normalizer(vocabulary), settings.promote_after, settings.auto_promote)


@vocab.command(epilog="""\b
Example:
  prelabel vocab review --vocab vocab/plant-quarantine-pests.yaml
""")
@VOCAB_OPTION
def review(vocab_path: str | None) -> None:
    """Learned synonyms and suggested names, each once, in the state decisions leave it, with counts, reviewers
    and example tasks."""
    with open_learning(vocab_path) as (settings, learning):
        found = learning.review()
    names = reviewer_names(settings, found)
    try:
        suggested = suggestions_file.load_suggestions(suggestions_file.suggested_path(settings.vocab))
    except suggestions_file.SuggestedError as exc:
        raise BadInput(str(exc)) from None
    if found.empty() and not suggested:
        click.echo("nothing to review yet: no synonyms learned from reviewers and no suggested names "
                   "(`prelabel vocab suggest` asks the MLLM for some)")
        return
    base = settings.label_studio_url.rstrip("/")

    def links(tasks: Iterable[TaskRef]) -> str:
        return " ".join(f"{base}/projects/{project}/data?task={task}" for project, task in tasks)

    def evidence(entry: ReviewEntry) -> str:
        if not entry.count:
            return ""
        who = ", ".join(names.get(reviewer, f"user {reviewer}") for reviewer in entry.reviewers)
        return f"{entry.count} annotation(s), reviewers {who}  {links(entry.tasks)}"

    def decided(entry: ReviewEntry) -> str:
        who = "reviewers' agreement" if entry.decided_by == "reviewers" else entry.decided_by
        return f"{entry.status} by {who}"

    click.echo(f"in force (predictions use them): {len(found.in_force)}")
    for entry in found.in_force:
        click.echo(f"  {entry.string!r} -> {entry.label}: {decided(entry)}; {evidence(entry)}".rstrip("; "))
    click.echo(f"pending (names the vocabulary lacks; in force after {settings.promote_after} agreeing "
               f"annotations from 2+ reviewers, or `prelabel vocab accept`): {len(found.pending)}")
    for entry in found.pending:
        click.echo(f"  {entry.string!r} -> {entry.label}: {evidence(entry)}")
    click.echo(f"conflicts (never in force by themselves; accept or reject): {len(found.conflicts)}")
    for conflict in found.conflicts:
        points = "; ".join(f"{entry.label}: {evidence(entry)}" for entry in conflict.labels)
        also = f" (in force for {', '.join(conflict.in_force)})" if conflict.in_force else ""
        click.echo(f"  {conflict.string!r}: {points}{also}")
    click.echo(f"model errors (the MLLM named another label than reviewers chose: its mistake, not vocabulary "
               f"work; never learned): {len(found.model_errors)}")
    for entry in found.model_errors:
        click.echo(f"  {entry.string!r} names {entry.named}, reviewers chose {entry.label}: {evidence(entry)}")
    click.echo(f"rejected (never used): {len(found.rejected)}")
    for entry in found.rejected:
        click.echo(f"  {entry.string!r} -> {entry.label}: {decided(entry)}; {evidence(entry)}".rstrip("; "))
    click.echo(f"left out (not names by the screening suggested names pass): {sum(found.left_out.values())}")
    if found.left_out:
        click.echo("  " + ", ".join(f"{count} {kind}" for kind, count in sorted(found.left_out.items())))
    click.echo(f"new class? (labels outside the vocabulary): {len(found.new_classes)}")
    for new in found.new_classes:
        click.echo(f"  {new.label!r}: {new.count} annotation(s), MLLM said {list(new.strings)}  {links(new.tasks)}")
    by_status = Counter(s.status for s in suggested)
    click.echo(f"suggested names: {by_status['pending']} to decide, {by_status['flagged']} flagged (never used), "
               f"{by_status['accepted']} accepted, {by_status['rejected']} rejected")
    for status in (suggestions_file.PENDING, suggestions_file.FLAGGED, suggestions_file.ACCEPTED):
        for s in suggested:
            if s.status == status:
                where = s.kind + (f", {s.language}" if s.language else "")
                click.echo(f"  {status:8} {s.name!r} -> {s.label} ({where})" + (f": {s.reason}" if s.reason else ""))
    click.echo("evidence: " + (", ".join(f"{kind} {count}" for kind, count in sorted(found.evidence.items()))
                               or "none yet"))


def reviewer_names(settings: Settings, found: SynonymReview) -> dict[int, str]:
    """Reviewers as Label Studio knows them (email or username), for the ids in the review; {} (ids shown as
    "user N") when there are none or Label Studio cannot say, which is said in one line."""
    if not any(entry.reviewers for entry in found.entries()):
        return {}
    from prelabel.studio.client import StudioError

    try:
        with open_parts(settings) as parts:
            names: dict[int, str] = parts.studio.user_names()
            return names
    except StudioError as exc:
        echo_err(f"reviewers shown by id: {exc}")
        return {}


@vocab.command(epilog="""\b
Example:
  prelabel vocab accept "brown marmorated bug" "Halyomorpha halys"
""")
@click.argument("string")
@click.argument("label")
@VOCAB_OPTION
@click.option("--by", default=None, help="Who decides (default: the login name).")
@click.option("--force", is_flag=True,
              help="Accept a string the screening refuses (a group word, another label's name, one or two "
                   "letters, a none word, a string naming several labels), with a warning.")
def accept(string: str, label: str, vocab_path: str | None, by: str | None, force: bool) -> None:
    """Use STRING as a name of LABEL: a suggested name, or a synonym learned from reviewers. The string is
    screened as suggested names are; a refused one says why in one line."""
    decide(string, label, vocab_path, by, accept=True, force=force)


@vocab.command(epilog="""\b
Example:
  prelabel vocab reject "stink bug" "Halyomorpha halys"
""")
@click.argument("string")
@click.argument("label")
@VOCAB_OPTION
@click.option("--by", default=None, help="Who decides (default: the login name).")
def reject(string: str, label: str, vocab_path: str | None, by: str | None) -> None:
    """Never use STRING as a name of LABEL (nor promote it automatically)."""
    decide(string, label, vocab_path, by, accept=False)


def decide(string: str, label: str, vocab_path: str | None, by: str | None, accept: bool,
           force: bool = False) -> None:
    """A suggested name of LABEL in <vocab>.suggested.yaml is decided there; any other string in the learned
    store. Both decisions are in `prelabel vocab log`. What is accepted passes the screening suggested names pass
    (prelabel.vocabulary.screening), unless forced."""
    from prelabel.vocabulary.screening import check_name

    who = by or getpass.getuser()
    with open_learning(vocab_path) as (settings, learning):
        try:
            if label not in learning.normalizer.vocabulary.label_values:
                raise ValueError(f"{label!r} is not a label of the vocabulary")
            flag = check_name(string, label, learning.normalizer) if accept else None
            if flag and not force:
                raise ValueError(f"{quote(string, 60)!r} is refused as a name of {label}: {flag} "
                                 f"(--force accepts it anyway)")
            if flag:
                echo_err(f"warning: {quote(string, 60)!r} accepted as a name of {label} though the screening "
                         f"refuses it ({flag}); predictions use it")
            path = suggestions_file.suggested_path(settings.vocab)
            decided = suggestions_file.decide(path, string, label, accept, force=force)
            if decided is None:
                click.echo(learning.decide(string, label, accept=accept, by=who))
                return
            click.echo(learning.log_change(decided.status, decided.name, label,
                                           f"command: {'accept' if accept else 'reject'} suggested name by {who}"))
            click.echo(f"recorded in {path}; the service and workers using {settings.vocab} use it from their "
                       f"next request or job (a new model_version), no restart", err=True)
        except ValueError as exc:  # SuggestedError too: a flagged name cannot be accepted
            raise BadInput(str(exc)) from None


@vocab.command(epilog="""\b
Example:
  prelabel vocab export --out merged.yaml && diff vocab/plant-quarantine-pests.yaml merged.yaml
""")
@VOCAB_OPTION
@click.option("--out", "out_path", default="-", show_default=True, help="Where to write the YAML (- for stdout).")
def export(vocab_path: str | None, out_path: str) -> None:
    """Write the merged dictionary (the expert's file, accepted suggested names, synonyms in force) as YAML."""
    from prelabel.vocabulary.vocab import dump_vocabulary, with_learned

    with open_learning(vocab_path) as (_, learning):
        merged = with_learned(learning.normalizer.vocabulary, learning.store.synonyms_in_force())
    text = dump_vocabulary(merged)
    if out_path == "-":
        click.echo(text, nl=False)
    else:
        Path(out_path).write_text(text, encoding="utf-8")
        echo_err(f"wrote {out_path} (version {merged.version})")


@vocab.command("log", epilog="""\b
Example:
  prelabel vocab log --limit 20
""")
@VOCAB_OPTION
@click.option("--limit", default=50, show_default=True, type=int)
def change_log(vocab_path: str | None, limit: int) -> None:
    """The change log of learned synonyms and suggested names: what, when, from which annotations or command."""
    with open_learning(vocab_path) as (_, learning):
        changes = learning.changes(limit)
    if not changes:
        click.echo("no changes yet: nothing was promoted, accepted or rejected")
        return
    for change in changes:
        when = datetime.fromtimestamp(change.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{when}  {change.what:9} {change.string!r} -> {change.label}  ({change.source})")


@vocab.command("labelconfig", epilog="""\b
Example:
  prelabel vocab labelconfig --vocab vocab/plant-quarantine-pests.yaml --language ja > config.xml
  prelabel vocab labelconfig --vocab vocab/plant-quarantine-pests.yaml --regions > regions.xml
""")
@VOCAB_OPTION
@LANGUAGE_OPTION
@REGIONS_OPTION
def labelconfig(vocab_path: str | None, language: str | None, regions: bool) -> None:
    """Print the Label Studio labeling config for the vocabulary, laid out for reviewers: the image, one choice
    per label plus the PRELABEL_NONE_CHOICE choice (checkboxes up to 10, a searchable Taxonomy beyond), and the
    read-only evidence text Prelabel's predictions fill; with --regions, also a box label per vocabulary label
    over the image and each box's own evidence."""
    from prelabel.studio.labelconfig import make_label_config

    settings = read_settings(vocab=vocab_path)
    click.echo(make_label_config(read_expert_vocabulary(settings.vocab), settings.none_choice, language, regions),
               nl=False)
