"""The `prelabel` command: one subcommand per job, each a thin shell over a module that does the work."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import click

from prelabel.clip import ClipLoadError
from prelabel.descriptions import DescriptionsError
from prelabel.encoders import SpecError, load_text_encoder
from prelabel.normalize import Normalizer
from prelabel.settings import Settings, SettingsError, documented
from prelabel.vocab import VocabError, Vocabulary, load_vocabulary

# Everything a bad setting, file or model name can raise while the parts are built: exit 2, message on stderr.
SETUP_ERRORS = (VocabError, SpecError, ClipLoadError, DescriptionsError, SettingsError, ValueError)


class BadInput(click.ClickException):
    """A bad argument, vocabulary or SPEC: message on stderr, exit code 2 (as for a usage error)."""

    exit_code = 2


@click.group()
@click.version_option(package_name="prelabel")
def main() -> None:
    """Prelabel: pre-labels inspection photos for Label Studio."""


def read_settings(**overrides) -> Settings:
    try:
        return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise BadInput(str(exc)) from None


def read_vocabulary(path: str) -> Vocabulary:
    try:
        return load_vocabulary(path)
    except VocabError as exc:
        raise BadInput(str(exc)) from None


@main.command()
@click.option("--vocab", "vocab_path", required=True, help="Vocabulary YAML file.")
@click.option("--text-encoder", "encoder_spec", default=None,
              help="Turns the embedding stage on: open_clip:MODEL:PRETRAINED or sentence-transformers:PATH.")
@click.option("--embedding-threshold", type=float, default=None,
              help="Cosine similarity the nearest name must reach (default: the encoder's own).")
def normalize(vocab_path: str, encoder_spec: str | None, embedding_threshold: float | None) -> None:
    """Map answers (one per line on stdin) onto the vocabulary; one JSON object per line on stdout."""
    vocabulary = read_vocabulary(vocab_path)
    encoder = None
    if encoder_spec:
        try:
            encoder = load_text_encoder(encoder_spec)
        except SpecError as exc:
            raise BadInput(str(exc)) from None
    normalizer = Normalizer(vocabulary, text_encoder=encoder, embedding_threshold=embedding_threshold)
    stdin = click.get_text_stream("stdin", encoding="utf-8", errors="replace")
    stdout = click.get_text_stream("stdout", encoding="utf-8")
    for line in stdin:
        result = normalizer.normalize(line.rstrip("\r\n"))
        stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        stdout.flush()


@main.command()
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.argument("images", nargs=-1, required=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Label Studio import JSON.")
@click.option("--from-name", default="label", show_default=True, help="Name of the <Choices> in the config.")
@click.option("--to-name", default="image", show_default=True, help="Name of the <Image> in the config.")
@click.option("--data-key", default="image", show_default=True, help="Task data key of the image ($image).")
@click.option("--image-root", type=click.Path(file_okay=False, exists=True), default=None,
              help="LOCAL_FILES_DOCUMENT_ROOT of Label Studio: images become /data/local-files/?d=... URLs.")
@click.option("--no-mllm", is_flag=True, help="CLIP only, even if PRELABEL_LLM_BASE_URL is set.")
@click.option("--no-clip", is_flag=True, help="MLLM and normaliser only, even if PRELABEL_CLIP_MODEL is set.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="MLLM requests in flight.")
def predict(vocab_path, images, out_path, from_name, to_name, data_key, image_root, no_mllm, no_clip,
            concurrency) -> None:
    """Pre-label IMAGES (files or directories) and write Label Studio tasks with predictions."""
    from tqdm import tqdm

    from prelabel.factory import build_pipeline
    from prelabel.images import find_images
    from prelabel.pipeline import ImageInput, summarise
    from prelabel.tasks import Control, import_task, local_files_url

    settings = read_settings(vocab=vocab_path, llm_concurrency=concurrency)
    settings = replace(settings, llm_base_url="" if no_mllm else settings.llm_base_url,
                       clip_model="" if no_clip else settings.clip_model)
    try:
        paths = find_images(list(images))
    except FileNotFoundError as exc:
        raise BadInput(str(exc)) from None
    if image_root:
        outside = [p for p in paths if not p.resolve().is_relative_to(Path(image_root).resolve())]
        if outside:
            raise BadInput(f"{outside[0]} is not under --image-root {image_root}")
    try:
        pipeline = build_pipeline(settings)
    except SETUP_ERRORS as exc:
        raise BadInput(str(exc)) from None
    control = Control(from_name=from_name, to_name=to_name, data_key=data_key)
    inputs = [ImageInput(str(path), path.read_bytes, ref=path) for path in paths]
    started = time.perf_counter()
    with tqdm(total=len(inputs), unit="image", file=sys.stderr, disable=None) as bar:
        predictions = pipeline.predict(inputs, progress=lambda _: bar.update())
    model_version = pipeline.model_version
    tasks = [import_task(p, local_files_url(p.ref, Path(image_root)) if image_root else str(p.ref),
                         model_version, control) for p in predictions]
    Path(out_path).write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    summary = summarise(predictions, pipeline.mllm, time.perf_counter() - started)
    report_summary(summary, predictions, out_path, model_version)


def report_summary(summary: dict, predictions, out_path: str, model_version: str) -> None:
    echo = lambda text: click.echo(text, err=True)  # noqa: E731 - stdout stays free for data
    echo(f"wrote {summary['images']} tasks to {out_path} (model_version {model_version})")
    echo(f"images: {summary['images']}, labelled: {summary['labelled']}, failed: {summary['failed']}"
         + (f" {summary['failures_by_cause']}" if summary["failures_by_cause"] else ""))
    if summary["stage_errors"]:
        echo(f"stage errors: {summary['stage_errors']}")
    tokens = summary["tokens"]
    echo(f"MLLM calls: {summary['mllm_calls']} (retries {summary['mllm_retries']}), cache hits: "
         f"{summary['cache_hits']}, tokens: {tokens.get('prompt', 0)} prompt + {tokens.get('completion', 0)} "
         f"completion, seconds: {summary['seconds']}")
    for prediction in predictions:
        if prediction.failed:
            echo(f"failed: {prediction.source}: {'; '.join(f'{k}: {v}' for k, v in prediction.errors.items())}")


@main.group()
def vocab() -> None:
    """Work on vocabularies."""


@vocab.command()
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--force", is_flag=True, help="Regenerate descriptions that are already in the file.")
def describe(vocab_path: str | None, force: bool) -> None:
    """Write five class descriptions per label with the MLLM into <vocab>.descriptions.yaml."""
    from prelabel.descriptions import describe_vocabulary, descriptions_path
    from prelabel.factory import mllm_client
    from prelabel.mllm import MLLMError

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


def open_learning(vocab_path: str | None):
    from prelabel.factory import learned_store
    from prelabel.learning import Learning

    settings = read_settings(vocab=vocab_path)
    vocabulary = read_vocabulary(settings.vocab)
    try:
        return settings, Learning(learned_store(settings), Normalizer(vocabulary), settings.promote_after)
    except Exception as exc:  # a bad PRELABEL_DATABASE_URL, an unreachable PostgreSQL
        raise BadInput(f"cannot open the learned store {settings.learned_url}: {exc}") from None


@vocab.command()
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
def review(vocab_path: str | None) -> None:
    """Pending learned synonyms and conflicts, with counts, reviewers and example tasks."""
    settings, learning = open_learning(vocab_path)
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
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--by", default=None, help="Who decides (default: the login name).")
def accept(string: str, label: str, vocab_path: str | None, by: str | None) -> None:
    """Put STRING in force as a synonym of LABEL."""
    decide(string, label, vocab_path, by, accept=True)


@vocab.command()
@click.argument("string")
@click.argument("label")
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--by", default=None, help="Who decides (default: the login name).")
def reject(string: str, label: str, vocab_path: str | None, by: str | None) -> None:
    """Never use STRING as a synonym of LABEL (nor promote it automatically)."""
    decide(string, label, vocab_path, by, accept=False)


def decide(string: str, label: str, vocab_path: str | None, by: str | None, accept: bool) -> None:
    import getpass

    _, learning = open_learning(vocab_path)
    try:
        click.echo(learning.decide(string, label, accept=accept, by=by or getpass.getuser()))
    except ValueError as exc:
        raise BadInput(str(exc)) from None


@vocab.command()
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--out", "out_path", default="-", show_default=True, help="Where to write the YAML (- for stdout).")
def export(vocab_path: str | None, out_path: str) -> None:
    """Write the merged dictionary (the expert's file plus the synonyms in force) as YAML."""
    from prelabel.vocab import dump_vocabulary, with_learned

    _, learning = open_learning(vocab_path)
    merged = with_learned(learning.normalizer.vocabulary, learning.store.synonyms_in_force())
    text = dump_vocabulary(merged)
    if out_path == "-":
        click.echo(text, nl=False)
    else:
        Path(out_path).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out_path} (version {merged.version})", err=True)


@vocab.command("log")
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
@click.option("--limit", default=50, show_default=True, type=int)
def change_log(vocab_path: str | None, limit: int) -> None:
    """The change log of learned synonyms: what, when, from which annotations or command."""
    from datetime import datetime

    _, learning = open_learning(vocab_path)
    for at, what, string, label, source in learning.changes(limit):
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{when}  {what:9} {string!r} -> {label}  ({source})")


@vocab.command("labelconfig")
@click.option("--vocab", "vocab_path", default=None, help="Vocabulary YAML file (default: PRELABEL_VOCAB).")
def labelconfig(vocab_path: str | None) -> None:
    """Print a Label Studio labeling config with one <Choice> per label of the vocabulary."""
    from prelabel.labelconfig import make_label_config

    click.echo(make_label_config(read_vocabulary(read_settings(vocab=vocab_path).vocab)), nl=False)


@main.command()
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
                        "--threads", "8", "--timeout", "120", "--access-logfile", "-", "prelabel.service:create_app()"])


@main.command()
@click.option("--queues", default=",".join(("prelabel-interactive", "prelabel-predict", "prelabel-feedback")),
              show_default=True, help="Queues to serve, in priority order.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: host and pid).")
def worker(queues: str, burst: bool, name: str | None) -> None:
    """Run a worker: loads the models once, then runs prediction and feedback jobs."""
    import logging

    from prelabel.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = read_settings()
    try:
        run_worker(settings, [q.strip() for q in queues.split(",") if q.strip()], burst=burst, name=name)
    except SETUP_ERRORS as exc:
        raise BadInput(str(exc)) from None


@main.command()
@click.option("--project", "project_id", required=True, type=int, help="Label Studio project id.")
@click.option("--all", "all_tasks", is_flag=True, help="Every task of the project without a current prediction.")
@click.option("--tasks", "task_list", default=None, help="Comma-separated task ids.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Show progress until the jobs are done.")
def run(project_id: int, all_tasks: bool, task_list: str | None, wait: bool) -> None:
    """Queue a bulk pre-labelling of a project; workers write the predictions into Label Studio."""
    from redis import Redis

    from prelabel import bulk
    from prelabel.studio import StudioError

    if all_tasks == bool(task_list):
        raise BadInput("give either --all or --tasks")
    try:
        wanted = {int(t) for t in task_list.split(",")} if task_list else None
    except ValueError:
        raise BadInput(f"--tasks: expected comma-separated integers, got {task_list!r}") from None
    settings = read_settings()
    redis = Redis.from_url(settings.redis_url)
    try:
        queued = bulk.queue_project(settings, redis, project_id, wanted)
    except StudioError as exc:
        raise click.ClickException(str(exc)) from None
    except SETUP_ERRORS as exc:
        raise BadInput(str(exc)) from None
    click.echo(f"project {project_id}: {queued.tasks} task(s) queued in {len(queued.jobs)} job(s), "
               f"{queued.skipped} already pre-labelled as {queued.model_version}", err=True)
    if wait and queued.jobs:
        outcome = bulk.follow(redis, queued.jobs, echo=lambda text: click.echo(text, err=True))
        click.echo(outcome.summary(), err=True)
        if outcome.failed:
            sys.exit(1)


@main.command("jobs")
@click.option("--requeue", is_flag=True, help="Put every failed job back in its queue.")
def list_jobs(requeue: bool) -> None:
    """Queues, and the failed jobs with their errors."""
    from redis import Redis

    from prelabel import bulk

    redis = Redis.from_url(read_settings().redis_url)
    for line in bulk.describe_queues(redis, requeue=requeue):
        click.echo(line)


@main.command("settings")
def show_settings() -> None:
    """Every environment variable Prelabel reads, with its default."""
    for name, default, meaning in documented():
        click.echo(f"{name}={default}\n    {meaning}")


if __name__ == "__main__":
    sys.exit(main())
