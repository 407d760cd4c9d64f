"""Each setting declares whether it enters model_version (settings.py: _predicts or _runs), and the version is
built from those declarations alone (pipeline/identity.py): a setting declared to change predictions changes the
version, every other one leaves it as it is, and a setting that declares neither fails here."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from helpers import EXAMPLE_VOCAB
from prelabel.pipeline.calibration import PRIOR_PATH
from prelabel.pipeline.identity import ModelVersion, model_version
from prelabel.settings import ALWAYS, ENTERS, Settings
from prelabel.vocabulary.vocab import load_vocabulary

SECRETS = {"llm_api_key", "label_studio_api_key", "basic_auth_pass", "database_url", "redis_url", "label_studio_url"}
# Both stages on, so that a stage's own settings are in force.
BASE = Settings(llm_base_url="http://127.0.0.1:1/v1", clip_model="ViT-B-32")
DESCRIPTIONS = {"Halyomorpha halys": ["a brown shield-shaped bug"]}


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary(EXAMPLE_VOCAB)


def other_value(name: str, value: object) -> object:
    if name == "fusion_features":
        return "image"
    if name == "calibration":  # a model file that exists (the shipped prior's, read from another path)
        return str(PRIOR_PATH)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value}-other"


def test_every_setting_declares_whether_it_enters_model_version():
    undeclared = [spec.name for spec in fields(Settings) if spec.metadata.get(ENTERS) not in ("", ALWAYS, "mllm",
                                                                                               "clip", "regions")]
    assert undeclared == []


def test_no_secret_and_no_address_enters_model_version():
    assert [spec.name for spec in fields(Settings) if spec.name in SECRETS and spec.metadata[ENTERS]] == []


@pytest.mark.parametrize("spec", fields(Settings), ids=lambda spec: spec.name)
def test_a_setting_changes_model_version_exactly_when_declared_to(spec, vocabulary):
    before = model_version(BASE, vocabulary, DESCRIPTIONS)
    changed = replace(BASE, **{spec.name: other_value(spec.name, getattr(BASE, spec.name))})
    after = model_version(changed, vocabulary, DESCRIPTIONS)
    # Image-level projects: a region-only setting leaves their version as it is.
    assert (after != before) == (spec.metadata[ENTERS] not in ("", "regions")), spec.metadata["env"]
    regions_before = before.for_config(True, BASE.box_convention)
    regions_after = after.for_config(True, changed.box_convention)
    assert (regions_after != regions_before) == bool(spec.metadata[ENTERS]), spec.metadata["env"]


def test_a_region_projects_version_holds_the_box_convention_and_image_level_ones_do_not(vocabulary):
    """Issue 26: changing PRELABEL_BOX_CONVENTION re-predicts region projects and no image-level project."""
    gemini = replace(BASE, box_convention="yxyx-1000")
    image_level = model_version(BASE, vocabulary, DESCRIPTIONS)
    assert model_version(gemini, vocabulary, DESCRIPTIONS) == image_level
    assert image_level.for_config(False, "yxyx-1000") == image_level.for_config(False, "auto") == image_level
    regions = image_level.for_config(True, BASE.box_convention)
    assert regions.vocabulary == image_level.vocabulary  # only the settings half moves: learned synonyms alike
    assert regions.settings != image_level.settings
    assert regions != image_level.for_config(True, "yxyx-1000")
    assert ModelVersion.parse(str(regions)) == regions
    assert regions.failure().real() == regions and regions.failure() != image_level.failure()


def test_a_stages_own_settings_enter_only_while_it_is_on(vocabulary):
    off = replace(BASE, llm_base_url="", clip_model="")
    assert model_version(off, vocabulary, {}) == model_version(replace(off, llm_model="another"), vocabulary, {})
    assert model_version(off, vocabulary, {}) == model_version(replace(off, clip_pretrained="other"), vocabulary, {})
    assert model_version(off, vocabulary, {}) != model_version(BASE, vocabulary, {})  # turning one on is a change


def test_class_descriptions_enter_only_while_clip_is_on(vocabulary):
    """Issue 21: after `vocab describe` with CLIP off, the service and the workers disagreed on the version."""
    without_clip = replace(BASE, clip_model="")
    assert model_version(without_clip, vocabulary, DESCRIPTIONS) == model_version(without_clip, vocabulary, {})
    assert model_version(BASE, vocabulary, DESCRIPTIONS) != model_version(BASE, vocabulary, {})


def test_the_pipeline_keeps_options_and_no_secret():
    from prelabel.pipeline.pipeline import PipelineOptions

    secret = Settings(llm_base_url="http://user:pw-in-url@127.0.0.1:1/v1", llm_api_key="sk-never-kept",
                      label_studio_api_key="ls-never-kept", basic_auth_pass="bp-never-kept")
    options = PipelineOptions.from_settings(secret)
    assert not any(word in repr(options) for word in ("never-kept", "pw-in-url"))
    assert not any(isinstance(getattr(options, spec.name), Settings) for spec in fields(options))
