"""`prelabel report`, `prelabel sample`, `prelabel accept` and `prelabel calibrate`: thin shells over sources,
figures, sample, accept, calibrate and output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from prelabel.report import figures
from prelabel.report.records import Attempt, ReportInputError, TaskRecord
from prelabel.report.sample import DEFAULT_MINIMUM, Design, allocate, choose

if TYPE_CHECKING:  # imported where used: `prelabel --help` starts without Label Studio's client or matplotlib
    from prelabel.learning.store import LearnedStore
    from prelabel.parts import Parts
    from prelabel.report.accept import Acceptance
    from prelabel.report.calibrate import Refit
    from prelabel.report.figures import Report

T = TypeVar("T")


class BadReportInput(click.ClickException):
    """No annotations, a wrong export format, an unknown model_version...: message on stderr, exit code 2."""

    exit_code = 2


def _echo(text: str) -> None:
    click.echo(text, err=True)


def _tasks_bar(items: Iterable[T]) -> Iterable[T]:
    from tqdm import tqdm

    bar: Iterable[T] = tqdm(items, unit="task", desc="reading", file=sys.stderr, disable=None)
    return bar


def _bytes_bar(chunks: Iterator[bytes]) -> Iterator[bytes]:
    from tqdm import tqdm

    with tqdm(unit="B", unit_scale=True, desc="downloading", file=sys.stderr, disable=None) as bar:
        for chunk in chunks:
            bar.update(len(chunk))
            yield chunk


def _guarded(work: Callable[[], T]) -> T:
    """Bad input -> exit 2 with its message; Label Studio or the store failing -> exit 1 with its message."""
    from prelabel.studio.client import StudioError

    try:
        return work()
    except ReportInputError as exc:
        raise BadReportInput(str(exc)) from None
    except StudioError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("report", epilog="""\b
Examples:
  prelabel report --project 12 --out poc-report
  prelabel report --export project-12.json --prompt-price 0.15 --completion-price 0.60
  prelabel report --project 12 --compare prelabel-aaaa-1111 prelabel-bbbb-2222
""")
@click.option("--project", "project_id", type=int, default=None, help="Label Studio project id.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A Label Studio JSON export, or `prelabel predict` output with annotations (instead of --project).")
@click.option("--model-version", default=None,
              help="The version to report on (default: the sample's, else the project's, else the most frequent).")
@click.option("--compare", nargs=2, default=None, metavar="V1 V2", help="Compare two model versions.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("prelabel-report"),
              show_default=True, help="Folder for report.html, metrics.json and tasks.csv.")
@click.option("--annotations", "policy", type=click.Choice(figures.POLICIES), default="latest", show_default=True,
              help="Which annotation counts when a task has several.")
@click.option("--target-accuracy", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Accuracy the auto-accept threshold must reach.")
@click.option("--prompt-price", type=float, default=None, help="Price per million prompt tokens.")
@click.option("--completion-price", type=float, default=None, help="Price per million completion tokens.")
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--from-name", default=None, help="The <Choices> to read (default: the first choices result).")
@click.option("--unweighted", is_flag=True, help="Ignore a sample: every reviewed task counts once.")
def report(project_id: int | None, export_path: Path | None, model_version: str | None,
           compare: tuple[str, str] | None, out_dir: Path, policy: str, target_accuracy: float,
           prompt_price: float | None, completion_price: float | None, vocab_path: str | None,
           from_name: str | None, unweighted: bool) -> None:
    """The PoC accuracy report from what reviewers accepted and corrected."""
    if (project_id is None) == (export_path is None):
        raise click.UsageError("give either --project ID or --export FILE")

    def work() -> tuple[Report, dict[str, Path]]:
        # Imported here: `prelabel --help` and every other command start without Label Studio's client or
        # matplotlib.
        from prelabel.parts import Parts
        from prelabel.report import output, sources

        settings = sources.read_settings()
        parts = Parts(settings)  # its connections end with the command
        none = sources.none_choice(settings)
        vocabulary = sources.vocabulary_labels(settings, vocab_path)
        records, project, where, preferred, store = _reviewed(parts, project_id, export_path, from_name)
        language, shown = (sources.reviewers_words(sources.open_studio(parts), project_id, settings, vocab_path)
                           if project_id is not None else ("en", {}))
        stored: list[tuple[int, str, Attempt]] = []
        teaching: dict[int, list[tuple[str, str]]] = {}
        if store is not None and project is not None:
            stored = sources.stored_attempts(store, project)
            teaching = sources.teaching_tasks(store, project)
        options = figures.Options(model_version=model_version, preferred_version=preferred,
                                  compare=compare or None, teaching=teaching,
                                  annotation_policy=policy,
                                  target_accuracy=target_accuracy, prompt_price=prompt_price,
                                  completion_price=completion_price, use_sample=not unweighted,
                                  vocabulary=vocabulary, could_name=sources.name_screen(settings, vocab_path),
                                  none_choice=none, source=where, currency=settings.price_currency,
                                  language=language, shown=shown)
        built = figures.build(records, options, stored)
        return built, output.write(built, out_dir)

    built, paths = _guarded(work)
    top1 = built.metrics.accuracy.top1
    regions = built.metrics.regions
    if regions is None or regions.image_level:  # a regions-only project's image-level figures say nothing
        _echo(f"{built.metrics.model_version}: top-1 accuracy {top1.value:.1%} "
              f"({top1.low:.1%} to {top1.high:.1%}, 95%) on {top1.n} reviewed task(s) it answered"
              + (", weighted to the whole project" if built.metrics.weighted else ""))
    if regions is not None:
        precision, recall = regions.precision.value, regions.recall.value
        _echo(f"regions: {'-' if precision is None else f'{precision:.1%}'} of {regions.predicted} predicted "
              f"box(es) right, {'-' if recall is None else f'{recall:.1%}'} of {regions.reviewed} reviewed "
              f"box(es) found (IoU >= {regions.iou}); {regions.drawn} drawn, {regions.deleted} deleted")
    _echo("wrote " + ", ".join(str(path) for path in paths.values()))


def _reviewed(parts: Parts, project_id: int | None, export_path: Path | None, from_name: str | None
              ) -> tuple[list[TaskRecord], int | None, str, str | None, LearnedStore | None]:
    """(records, project id, where they come from, the project's model_version, the learned store) of a Label
    Studio project's annotated tasks or of an export file; the store's prediction evidence added."""
    from prelabel.report import sources
    from prelabel.report.parse import read_tasks

    settings = parts.settings
    none = sources.none_choice(settings)
    preferred, where, project = None, str(export_path), project_id
    if project_id is not None:
        studio = sources.open_studio(parts)
        preferred = sources.project_model_version(studio, project_id)
        tasks = sources.export_project(studio, project_id, True, _bytes_bar)
        records = read_tasks(tasks, none, from_name, _tasks_bar)
        # The project's address: the page's first line reads the same in every language.
        where = f"{settings.label_studio_url.rstrip('/')}/projects/{project_id}"
    else:
        assert export_path is not None  # the commands ask for one or the other
        records, project = sources.read_export_file(export_path, none, from_name, _tasks_bar)
    store = sources.open_store(parts) if project is not None else None
    if store is not None and project is not None:
        sources.add_store_evidence(records, store, project)
    return records, project, where, preferred, store


@click.command("calibrate", epilog="""\b
Examples:
  prelabel calibrate --project 12 --out var/calibration-12.json
  PRELABEL_CALIBRATION=var/calibration-12.json prelabel serve   # and the workers: the scores it shows
""")
@click.option("--project", "project_id", type=int, default=None, help="Label Studio project id.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A Label Studio JSON export (or `prelabel predict` output with annotations) instead.")
@click.option("--model-version", default=None,
              help="Whose reviewed pre-labels (default: the version most reviewed tasks were scored by).")
@click.option("--annotations", "policy", type=click.Choice(figures.POLICIES), default="latest", show_default=True,
              help="Which annotation of a task counts.")
@click.option("--from-name", default=None, help="The <Choices> to read (default: the first choices result).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the model (JSON), for PRELABEL_CALIBRATION.")
def calibrate(project_id: int | None, export_path: Path | None, model_version: str | None, policy: str,
              from_name: str | None, out_path: Path) -> None:
    """Fit the project's own calibration from its reviews: the scores become its measured probabilities.

    Needs 200 reviewed tasks pre-labelled with a label (fewer: the shipped prior, fitted on the repository's
    corpora, keeps scoring). Prints the expected calibration error of the scores reviewers saw and of the
    refit (5-fold cross-validated). Set PRELABEL_CALIBRATION to the file written, for the service and the
    workers alike: model_version changes, and Label Studio asks for predictions again.
    """
    if (project_id is None) == (export_path is None):
        raise click.UsageError("give either --project ID or --export FILE")

    def work() -> Refit:
        import json

        from prelabel.parts import Parts
        from prelabel.report import sources
        from prelabel.report.calibrate import refit

        records, project, where, _, _ = _reviewed(Parts(sources.read_settings()), project_id, export_path,
                                                  from_name)
        found = refit(records, model_version, policy, f"project {project}" if project is not None else where)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(found.model.to_dict(), indent=1) + "\n", encoding="utf-8")
        return found

    found = _guarded(work)
    _echo(f"{found.reviewed} reviewed task(s) pre-labelled by {found.version}, {found.right} kept: expected "
          f"calibration error {found.before:.3f} for the scores shown, {found.after:.3f} for the refit "
          f"(5-fold cross-validated)")
    _echo(f"wrote {out_path} (calibration {found.model.version}): set PRELABEL_CALIBRATION={out_path} for the "
          "service and the workers")


@click.command("sample", epilog="""\b
Example:
  prelabel sample --project 12 -n 400 --seed 7
""")
@click.option("--project", "project_id", type=int, required=True, help="Label Studio project id.")
@click.option("-n", "size", type=click.IntRange(min=1), required=True, help="Tasks to review.")
@click.option("--seed", type=int, default=None, help="Random seed (default: a new one, printed).")
@click.option("--model-version", default=None, help="Whose predicted labels make the strata (default: the "
              "project's, else the most frequent).")
@click.option("--min-per-stratum", type=click.IntRange(min=1), default=DEFAULT_MINIMUM, show_default=True,
              help="Tasks every predicted label (none included) gets at least, where it has them.")
@click.option("--from-name", default=None, help="The <Choices> to read (default: the first choices result).")
def sample(project_id: int, size: int, seed: int | None, model_version: str | None, min_per_stratum: int,
           from_name: str | None) -> None:
    """Pick a stratified review sample of the project's pre-labelled tasks and make it reviewable."""
    import random

    seed = random.SystemRandom().randrange(1_000_000) if seed is None else seed

    def work() -> tuple[Design, int, int, list[tuple[int, str]], str]:
        from prelabel.parts import Parts
        from prelabel.report import marking, sources
        from prelabel.report.parse import read_tasks

        settings = sources.read_settings()
        parts = Parts(settings)  # its connections end with the command
        studio = sources.open_studio(parts)
        preferred = sources.project_model_version(studio, project_id)
        tasks = sources.export_project(studio, project_id, False, _bytes_bar)
        records = read_tasks(tasks, sources.none_choice(settings), from_name, _tasks_bar)
        store = sources.open_store(parts)
        if store is not None:
            sources.add_store_evidence(records, store, project_id)
        found = figures.versions_found(records)
        version = figures.pick_version(found, [model_version] if model_version else [],
                                       [model_version, preferred], f"the {len(records)} task(s) of the project")
        strata: dict[str | None, list[int]] = {}
        for record in records:
            if version in record.predictions:
                strata.setdefault(record.predictions[version].stratum, []).append(record.task_id)
        sizes = allocate({stratum: len(ids) for stratum, ids in strata.items()}, size, min_per_stratum)
        chosen = choose(strata, sizes, seed)
        design = Design.new(seed, version, {stratum: len(ids) for stratum, ids in strata.items()}, sizes)
        marked, unmarked = marking.mark_tasks(studio, tasks, chosen, design, _tasks_bar)
        views = marking.replace_views(studio, project_id, design, list(chosen))
        return design, marked, unmarked, views, settings.label_studio_url

    design, marked, unmarked, views, url = _guarded(work)
    _echo(f"sample {design.sample_id} of project {project_id} (model_version {design.model_version}, seed "
          f"{design.seed}): {marked} task(s) marked in their meta" + (f", {unmarked} of an older sample unmarked"
                                                                    if unmarked else ""))
    for stratum in sorted(design.population, key=lambda s: (s is not None, s or "")):
        _echo(f"  {stratum or '(none)'}: {design.sampled.get(stratum, 0)} of {design.population[stratum]}")
    for view_id, title in views:
        _echo(f"review in Label Studio: {url.rstrip('/')}/projects/{project_id}/data?tab={view_id}  ({title})")
    if views:  # Label Studio 1.23.2's "Label All Tasks" serves the whole project (docs/reviewers.md)
        _echo('reviewers: in that tab, press the arrow beside "Label All Tasks", then "Label Tasks As Displayed"')


@click.command("accept", epilog="""\b
Examples:
  prelabel accept --project 12 --above 0.93 --dry-run   # what it would accept
  prelabel accept --project 12 --above 0.93
  prelabel accept --project 12 --undo                   # delete what it accepted
""")
@click.option("--project", "project_id", type=int, required=True, help="Label Studio project id.")
@click.option("--above", type=click.FloatRange(0, 1), default=None,
              help="Accept pre-labels scored at or above this (the report recommends one where it holds).")
@click.option("--model-version", default=None, help="Whose pre-labels (default: the project's model_version).")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--undo", is_flag=True, help="Delete the annotations `prelabel accept` made that nobody "
              "submitted again since.")
@click.option("--from-name", default=None, help="The <Choices> to read (default: the first choices result).")
def accept(project_id: int, above: float | None, model_version: str | None, dry_run: bool, undo: bool,
           from_name: str | None) -> None:
    """Annotate unreviewed tasks with their pre-label where its score is at or above a threshold.

    The annotations are marked as Prelabel's: nothing is learned from them, the report counts them apart
    from reviewed tasks, and --undo deletes them. Tasks with any annotation (a skipped one too) are left alone.
    """
    if (above is None) == (not undo):
        raise click.UsageError("give --above SCORE to accept, or --undo to delete what was accepted")

    def work() -> tuple[list[tuple[int, int]], list[Acceptance], int, str | None]:
        from prelabel.parts import Parts
        from prelabel.report import accept as accepting
        from prelabel.report import sources

        settings = sources.read_settings()
        studio = sources.open_studio(Parts(settings))
        preferred = sources.project_model_version(studio, project_id)  # a project it does not have: exit 2
        tasks = sources.export_project(studio, project_id, False, _bytes_bar)
        if undo:
            made = accepting.made(tasks)
            return made, [], (0 if dry_run else accepting.delete(studio, made, _tasks_bar)), None
        version = model_version or preferred
        if not version or above is None:
            raise ReportInputError(f"project {project_id} has no model_version: give --model-version")
        chosen = accepting.choose(tasks, version, above, sources.none_choice(settings), from_name)
        return [], chosen, (0 if dry_run else accepting.create(studio, chosen, _tasks_bar)), version

    made, found, done, version = _guarded(work)
    if undo:
        _echo(f"{len(made)} annotation(s) made by `prelabel accept` in project {project_id}: "
              + ("none deleted (--dry-run)" if dry_run else f"{done} deleted"))
        return
    from prelabel.report.accept import summary

    _echo(f"{len(found)} unreviewed task(s) of project {project_id} have a pre-label of {version} scored >= "
          f"{above}: " + ("none annotated (--dry-run)" if dry_run else f"{done} annotated, marked as Prelabel's"))
    for label, count in summary(found):
        _echo(f"  {label}: {count}")


def add_commands(group: click.Group) -> None:
    """Called by the `prelabel` command group."""
    group.add_command(report)
    group.add_command(sample)
    group.add_command(accept)
    group.add_command(calibrate)
