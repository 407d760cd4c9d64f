"""Decompression bombs under Pillow's own limit: refused before decoding, or decoded small; a worker's memory stays
bounded on the sixteen hostile images that drove one from 1.2 to 4.7 GB."""

from __future__ import annotations

import time

import pytest
from redis import Redis

from faults.hostile import bomb_png, huge_jpeg
from faults.support import WorkerProcess, always, base_env, finished, new_project, queue_project, upload
from helpers import TEST_REDIS_URL
from prelabel.pipeline.images import DecodeLimits, ImageError, prepare_image
from stub_llm import StubLLM


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    return bomb_png(9400, 9400)


@pytest.fixture(scope="module")
def jpeg_bomb() -> bytes:
    return huge_jpeg(9400, 9400)


def test_a_png_bomb_under_pillows_limit_is_refused_before_decoding(png_bomb):
    assert len(png_bomb) < 20_000  # 88 million pixels in a few KB, under Pillow's 89.5 million limit
    started = time.monotonic()
    with pytest.raises(ImageError) as caught:
        prepare_image(png_bomb, "/data/upload/1/bomb.png")
    assert time.monotonic() - started < 0.5  # the header is read, no pixel is decoded
    assert str(caught.value) == ("/data/upload/1/bomb.png: 9400x9400 pixels is more than PRELABEL_IMAGE_MAX_PIXELS "
                                 "(40000000) and cannot be decoded at a reduced size")


def test_a_huge_jpeg_is_decoded_at_an_eighth_and_sent_small(jpeg_bomb):
    prepared = prepare_image(jpeg_bomb, "camera.jpg", max_side=1024, limits=DecodeLimits(max_pixels=2_000_000))
    assert prepared.size == (1024, 1024)  # 9400 / 8 = 1175 decoded (1.4 MP, under the 2 MP cap), then 1024
    with pytest.raises(ImageError, match="more than PRELABEL_IMAGE_MAX_PIXELS"):  # 1/8 is the most libjpeg does
        prepare_image(jpeg_bomb, "camera.jpg", limits=DecodeLimits(max_pixels=1_000_000))


def test_large_decodes_wait_for_a_slot():
    limits = DecodeLimits(decodes=1)
    with limits.slot(10_000_000):  # one large decode holds the only slot
        assert not limits._slots.acquire(blocking=False)  # a second large one would wait
        with limits.slot(1_000_000):  # a small image never waits
            pass
    assert limits._slots.acquire(blocking=False)


@pytest.mark.parametrize("make, name", [(lambda: bomb_png(4000, 4000)[:-40], "cut.png"),
                                        (lambda: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "garbage.png")])
def test_broken_files_are_one_clear_error(make, name):
    with pytest.raises(ImageError, match=rf"^{name}: not a readable image|^{name}: not an image"):
        prepare_image(make(), name)


def test_a_worker_stays_small_on_sixteen_hostile_images(label_studio, tmp_path, png_bomb, jpeg_bomb):
    """Eight 9,400 x 9,400 PNGs and eight 9,400 x 9,400 JPEGs in one 16-task job, eight threads at once: the
    PNGs fail with their reason, the JPEGs are labelled, and the worker's peak memory grows by little."""
    project_id = new_project(label_studio, "Hostile images")
    files = {f"bomb{i}.png": png_bomb for i in range(8)} | {f"camera{i}.jpg": jpeg_bomb for i in range(8)}
    ids = upload(label_studio, project_id, files)
    redis = Redis.from_url(TEST_REDIS_URL)
    redis.flushdb()
    with StubLLM(always("BMSB")) as stub:
        env = base_env(label_studio, tmp_path / "var", PRELABEL_LLM_BASE_URL=stub.url, PRELABEL_LLM_CONCURRENCY="8")
        worker = WorkerProcess(env, tmp_path / "worker.log", name="hostile-images")
        try:
            worker.wait_registered(redis)
            before = worker.peak_rss_mb()
            job = queue_project(redis, label_studio, project_id, env)
            outcome = finished(job)
            after = worker.peak_rss_mb()
        finally:
            worker.stop()
    failed = outcome["failed"]
    assert set(failed) == {ids[f"bomb{i}.png"] for i in range(8)}, outcome
    assert all("PRELABEL_IMAGE_MAX_PIXELS" in reason for reason in failed.values())
    assert outcome["labelled"] == 8
    print(f"worker peak RSS {before:.0f} MB -> {after:.0f} MB")
    assert after - before < 300, f"peak RSS grew from {before:.0f} to {after:.0f} MB"
