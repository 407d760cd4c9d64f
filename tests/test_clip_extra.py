"""CLIP is an extra (`prelabel[clip]`): without it, or without its weights, the commands that need CLIP say in
one line what to install or set, and exit 2, instead of a traceback."""

from __future__ import annotations

import sys

import pytest

from helpers import TEST_REDIS_URL, TINY_CLIP_CONFIG, invoke, solid_image


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"PRELABEL_DATA_DIR": str(tmp_path / "var"), "REDIS_URL": TEST_REDIS_URL, "PRELABEL_LLM_BASE_URL": "",
            "PRELABEL_CLIP_MODEL": str(TINY_CLIP_CONFIG), "PRELABEL_CLIP_PRETRAINED": "", "PRELABEL_DEVICE": "cpu"}


@pytest.fixture
def without_clip_packages(monkeypatch):
    """torch and open_clip as if not installed: None in sys.modules makes their import fail (and find_spec
    return None), as in a core install."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "open_clip", None)


def one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_the_worker_says_which_extra_to_install(env, without_clip_packages):
    result = invoke("worker", "--burst", env=env)
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "torch and open_clip are not installed: pip install 'prelabel[clip]'" in error
    assert "PRELABEL_CLIP_MODEL= (empty)" in error


def test_predict_says_which_extra_to_install(env, without_clip_packages, tmp_path):
    image = solid_image(tmp_path / "a.jpg", (200, 30, 30))
    result = invoke("predict", str(image), "--out", str(tmp_path / "tasks.json"), env=env)
    assert result.exit_code == 2
    assert "pip install 'prelabel[clip]'" in one_line_error(result)


def test_predict_with_clip_off_needs_no_clip_packages(env, without_clip_packages, tmp_path):
    """The MLLM alone (here: no MLLM either) runs on the core install."""
    image = solid_image(tmp_path / "a.jpg", (200, 30, 30))
    result = invoke("predict", str(image), "--out", str(tmp_path / "tasks.json"),
                    env={**env, "PRELABEL_CLIP_MODEL": ""})
    assert result.exit_code == 0, result.stderr


def test_unreachable_weights_name_the_settings_to_change(env, tmp_path):
    """HF_HUB_OFFLINE=1 (conftest) makes the hub unreachable, as on a machine without network."""
    image = solid_image(tmp_path / "a.jpg", (200, 30, 30))
    result = invoke("predict", str(image), "--out", str(tmp_path / "tasks.json"),
                    env={**env, "PRELABEL_CLIP_MODEL": "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"})
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "set PRELABEL_CLIP_MODEL and PRELABEL_CLIP_PRETRAINED to a local model and checkpoint" in error
    assert "PRELABEL_CLIP_MODEL= (empty)" in error
