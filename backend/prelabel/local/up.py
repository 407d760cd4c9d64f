"""`prelabel up` and `prelabel down`: a pre-labelled Label Studio project from a folder of photos, on one machine.

`up` starts what is not running (Redis, Label Studio, `prelabel serve`, one `prelabel worker`), each recorded in
the up directory's state file as soon as it starts, then makes the project ready (studio/setup.py) and queues
the pre-labels (jobs/bulk.py, as `prelabel run`). A second `up` finds everything running and changes nothing;
the backend and the worker are restarted only when the settings they were started with have changed. `down`
stops exactly what the state file names.

One backend serves one vocabulary. An `up` for another vocabulary (`--vocab`) in the same directory shares Redis
and Label Studio but starts a backend and a worker of its own, on their own Redis database and data folder
(learned synonyms, caches): the first vocabulary's project, backend and model_version stay as they were. A
project keeps the vocabulary it was made with: `up` refuses to move its photos' project to another one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from prelabel.jobs import bulk
from prelabel.local import labelstudio, processes, services
from prelabel.local.processes import UMASK, Started
from prelabel.local.state import BACKEND_USER, LABEL_STUDIO_USER, State
from prelabel.parts import Parts
from prelabel.pipeline.clip import clip_missing_message
from prelabel.pipeline.summary import every_image_failed
from prelabel.settings import Settings, process_environment
from prelabel.studio.labelconfig import make_label_config, read_label_config
from prelabel.studio.setup import IMAGE_FILES, Wanted, set_up
from prelabel.vocabulary.vocab import load_vocabulary

ORDER = ("redis", "label-studio", "backend", "worker")  # started in this order, stopped in the reverse


class UpError(ValueError):
    """Something to change before `up` can start (a setting, the photos' folder): nothing was started."""


@dataclass(frozen=True)
class Options:
    images: Path
    directory: Path
    title: str | None = None  # default: "Prelabel <folder name>"
    label_studio_port: int = 8080  # preferred when free; 0: any free port
    backend_port: int = 9090
    redis_port: int = 0  # its own Redis: this port if free; 0: any free port
    language: str | None = None  # the labeling config shows labels' common names in this language (e.g. ja)
    replace_config: bool = False  # replace the project's own labeling config by the vocabulary's


@dataclass
class Report:
    """What runs where, for the closing lines."""

    started: list[str] = field(default_factory=list)  # what this `up` started (empty: all was running)
    label_studio_url: str = ""
    backend_url: str = ""
    redis_url: str = ""
    project_id: int = 0
    project_title: str = ""
    tasks: int = 0
    model_version: str | None = None
    changes: list[str] = field(default_factory=list)  # what setup changed
    queued: int = 0
    written: int = 0
    failed_jobs: int = 0
    everything_failed: str | None = None  # the line saying why, when no task could be pre-labelled


def bring_up(settings: Settings, options: Options, say: Callable[[str], None]) -> Report:
    """Under umask UMASK: whatever `up` writes (state, secrets, logs) is its owner's alone."""
    previous = os.umask(UMASK)
    try:
        return _bring_up(settings, options, say)
    finally:
        os.umask(previous)


def _bring_up(settings: Settings, options: Options, say: Callable[[str], None]) -> Report:
    images = options.images.resolve()
    check(settings, images, say)
    with State(options.directory.resolve()).exclusive(say):
        return _bring_up_alone(settings, options, images, say)


def _bring_up_alone(settings: Settings, options: Options, images: Path, say: Callable[[str], None]) -> Report:
    state = State.load(options.directory)  # read under the lock: what an `up` before this one recorded
    opened = state.lock_down()
    if opened:
        say(f"{len(opened)} file(s) and folder(s) under {state.directory} were readable by others: now the "
            "owner's alone")
    root = Path(state.files_root) if state.files_root else images.parent
    if root not in images.parents:
        raise UpError(f"Label Studio here serves photos below {root} (LOCAL_FILES_DOCUMENT_ROOT, fixed at its first "
                      f"start) and {images} is outside it: put the photos below {root}, or use another --dir")
    state.files_root = str(root)
    report = Report()

    # Redis: our own, on a port of its own, with a password.
    redis_password = state.redis_password
    redis = _running(state, "redis", services.redis_fingerprint(redis_password), say)
    if redis is None:
        redis = services.launch_redis(state.directory / "redis", _port(state, "redis", options.redis_port, say),
                                      redis_password,
                                      process_environment({}), state.logs / "redis.log")
        _record(state, redis, report)
    vocab = str(Path(settings.vocab).resolve())
    slot = _slot(state, vocab, images)
    report.redis_url = f"redis://:{redis_password}@127.0.0.1:{redis.port}/{slot}"
    with Parts(replace(settings, redis_url=report.redis_url)) as ours:  # its Redis alone, to wait for it
        services.wait_redis(redis, ours.redis)

    # Label Studio: installed once, started without waiting (its first start migrates for a minute).
    venv = Path(settings.label_studio_venv).resolve()
    studio = _running(state, "label-studio")
    if studio is None:
        if not labelstudio.installed(venv):
            say(f"installing Label Studio {labelstudio.VERSION} into {venv} (once; a few minutes, about 1 GB)")
            labelstudio.install(venv, state.logs / "label-studio-install.log")
        data = state.directory / "label-studio"
        if not (data / "label_studio.sqlite3").exists():
            say("starting Label Studio for the first time: it sets up its database (about a minute)")
        studio = labelstudio.launch(venv, data, root, _port(state, "label-studio", options.label_studio_port, say),
                                    LABEL_STUDIO_USER, state.label_studio_password, state.label_studio_token,
                                    state.logs / "label-studio.log")
        _record(state, studio, report)
    report.label_studio_url = f"http://127.0.0.1:{studio.port}"

    # The backend and the worker, with the settings `up` decides on top of the caller's.
    env = process_environment({
        "LABEL_STUDIO_URL": report.label_studio_url, "LABEL_STUDIO_API_KEY": state.label_studio_token,
        "REDIS_URL": report.redis_url, "BASIC_AUTH_USER": BACKEND_USER, "BASIC_AUTH_PASS": state.backend_password,
        # Absolute: the children must find them whatever their working directory.
        "PRELABEL_VOCAB": vocab,
        "PRELABEL_DATA_DIR": str(Path(settings.data_dir).resolve() / (f"vocabulary-{slot}" if slot else "")),
        "PRELABEL_LABEL_STUDIO_VENV": str(venv),
        # One machine: the worker reads the photos where Label Studio does, instead of downloading them.
        "PRELABEL_LOCAL_FILES_ROOT": str(root)})
    child = Settings.from_env(env)
    parts = Parts(child)  # closed by _pre_label; on an error before it, when the command ends
    fingerprint = hashlib.sha256(json.dumps(asdict(child), sort_keys=True).encode()).hexdigest()[:16]
    backend_name, worker_name = (f"{name}-{slot}" if slot else name for name in ("backend", "worker"))
    backend = _running(state, backend_name, fingerprint, say)
    if backend is None:
        backend = services.launch_backend(_port(state, backend_name, 0 if slot else options.backend_port, say),
                                          env, state.logs / f"{backend_name}.log", fingerprint)
        _record(state, replace(backend, name=backend_name), report)
    report.backend_url = f"http://127.0.0.1:{backend.port}"
    worker = _running(state, worker_name, fingerprint, say)
    if worker is None:
        worker = services.launch_worker(env, state.logs / f"{worker_name}.log", fingerprint,
                                        f"prelabel-up-{int(time.time())}")
        _record(state, replace(worker, name=worker_name), report)

    # Label Studio last: its first start takes longest, and a worker that cannot load CLIP says so meanwhile.
    auth = (BACKEND_USER, state.backend_password)
    services.wait_backend(backend, report.backend_url, auth)
    services.wait_worker(worker, parts.redis, worker.command[-1])
    labelstudio.wait_ready(studio, report.label_studio_url, state.label_studio_token)

    # The project, then the pre-labels.
    vocabulary = load_vocabulary(child.vocab)
    config = make_label_config(vocabulary, child.none_choice, options.language)
    known = state.projects.get(str(images))
    wanted = Wanted(label_config=config, title=None if known else options.title or f"Prelabel {images.name}",
                    project_id=known, images_dir=images,
                    data_key=read_label_config(config, vocabulary).control.data_key,
                    backend_url=report.backend_url, basic_auth=auth, review_tab=child.list_columns,
                    replace_config=options.replace_config)
    ready = set_up(parts.studio, wanted, say)
    state.projects[str(images)] = ready.project_id
    state.project_vocabularies[str(ready.project_id)] = vocab
    state.save()
    report.project_id, report.project_title, report.changes = ready.project_id, ready.title, ready.changes
    _pre_label(parts, report, say)
    return report


def check(settings: Settings, images: Path, say: Callable[[str], None]) -> None:
    """What must be right before anything starts; one line for what is only worth knowing."""
    if not images.is_dir():
        raise UpError(f"--images {images}: no such directory")
    pattern = re.compile(IMAGE_FILES)
    if not any(pattern.match(path.name) for path in images.iterdir() if path.is_file()):
        raise UpError(f"--images {images}: no photos there (.jpg, .png, .gif, .bmp, .webp, .tif)")
    if images.parent == images:
        raise UpError("--images: the photos' folder cannot be / (Label Studio serves a folder below its root)")
    if not settings.mllm_enabled and not settings.clip_enabled:
        raise UpError("neither an MLLM (PRELABEL_LLM_BASE_URL) nor CLIP (PRELABEL_CLIP_MODEL) is set: nothing would "
                      "pre-label; docs/operations.md, \"MLLM endpoints\", lists the settings")
    if not settings.mllm_enabled:
        say("no MLLM: PRELABEL_LLM_BASE_URL is empty, so CLIP alone ranks the labels "
            "(docs/operations.md, \"MLLM endpoints\")")
    if settings.clip_enabled:
        missing = clip_missing_message(settings.clip_model)
        if missing:
            raise UpError(missing)
    try:
        services.redis_server()
    except services.ServiceError as exc:
        raise UpError(str(exc)) from None


def _slot(state: State, vocab: str, images: Path) -> int:
    """This vocabulary's number in the directory (0: the first, with the plain names): its backend, worker, Redis
    database and data folder. UpError when the photos' project was made for another vocabulary."""
    project = state.projects.get(str(images))
    made_for = state.project_vocabularies.get(str(project)) if project is not None else None
    if made_for is not None and made_for != vocab:
        raise UpError(f"the photos in {images} are project {project}, pre-labelled with the vocabulary {made_for}: a "
                      f"project keeps its vocabulary; give {vocab} another folder of photos (its own project)")
    if vocab not in state.vocabularies:
        state.vocabularies.append(vocab)
    return state.vocabularies.index(vocab)


def _kind(name: str) -> str:
    """'backend-2' -> 'backend': what a recorded process is, whichever vocabulary it serves."""
    return name if name in ORDER else name.rsplit("-", 1)[0]


def bring_down(directory: Path, say: Callable[[str], None]) -> int:
    """Stop what the state file names, in reverse order; returns how many were running."""
    with State(directory.resolve()).exclusive(say):
        return _bring_down_alone(directory, say)


def _bring_down_alone(directory: Path, say: Callable[[str], None]) -> int:
    state = State.load(directory)
    running = 0
    for name in sorted(state.processes, key=lambda name: -ORDER.index(_kind(name))):
        started = state.processes.pop(name, None)
        if started is None:
            continue
        pids = processes.stop(started)
        if pids:
            running += 1
            say(f"stopped {name} (pid {started.pid}{', ' + str(len(pids) - 1) + ' more' if len(pids) > 1 else ''})")
        else:
            say(f"{name} was not running")
        state.save()  # each one as it goes: an interrupted `down` leaves a state that names what remains
    return running


def _running(state: State, name: str, fingerprint: str | None = None,
             say: Callable[[str], None] = lambda _: None) -> Started | None:
    """The recorded process if it still runs with the same settings; else stop what is left of it."""
    started = state.processes.get(name)
    if started is None:
        return None
    if processes.alive(started) and (fingerprint is None or started.fingerprint == fingerprint):
        return started
    if processes.alive(started):
        say(f"the settings changed since the last `up`: restarting {name}")
    processes.stop(started)  # what may remain of it (a stopped leader's children, or the old settings)
    return None


def _port(state: State, name: str, preferred: int, say: Callable[[str], None] = lambda _: None) -> int:
    """The port it had (URLs stay the same), else `preferred` when free, else any free port."""
    started = state.processes.get(name)
    if started is not None and started.port and processes.port_free(started.port):
        return started.port
    port = processes.free_port(preferred)
    if preferred and port != preferred:
        say(f"port {preferred} is taken: {name} gets port {port}")
    return port


def _record(state: State, started: Started, report: Report) -> None:
    state.processes[started.name] = started
    state.save()  # at once: if `up` fails later, `down` still stops it
    report.started.append(started.name)


def _pre_label(parts: Parts, report: Report, say: Callable[[str], None]) -> None:
    """Queue every task without a prediction of the current model_version, with a progress bar until done."""
    try:
        queued = bulk.queue_project(parts, report.project_id, None)
        report.model_version, report.queued = queued.model_version, queued.tasks
        report.tasks = queued.tasks + queued.skipped
        if queued.jobs:
            say(f"pre-labelling {queued.tasks} task(s) ({queued.skipped} already pre-labelled)")
            outcome = bulk.follow(parts, queued.jobs, echo=say)
            say(outcome.summary())
            report.written, report.failed_jobs = outcome.stored, len(outcome.failed_jobs)
            report.everything_failed = every_image_failed(outcome.tasks, outcome.causes, parts.settings)
    finally:
        parts.close()
