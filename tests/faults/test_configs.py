"""Labeling configs as Label Studio (or anyone) posts them to /setup and /predict: a huge one is refused at once,
and each distinct one is parsed once. The real service app on the real Redis."""

from __future__ import annotations

import json
import time

import pytest

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL
from prelabel.service.app import create_app
from prelabel.service.configs import CAPACITY
from prelabel.settings import Settings

CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
          '<Choice value="Halyomorpha halys"/><Choice value="Sitophilus oryzae"/></Choices></View>')


def huge_config(megabytes: int) -> str:
    """A valid config that is only long: one <Choice> per ~50 bytes."""
    count = megabytes * 1024 * 1024 // 50
    choices = "".join(f'<Choice value="label number {i:08d}"/>' for i in range(count))
    return (f'<View><Image name="image" value="$image"/><Choices name="label" toName="image">{choices}'
            '</Choices></View>')


@pytest.fixture
def app(tmp_path, redis_conn):
    return create_app(Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                        data_dir=str(tmp_path)))


def test_a_huge_labeling_config_is_refused_quickly(app):
    client = app.test_client()
    config = huge_config(24)
    for path, body in (("/predict", {"tasks": [{"id": 1, "data": {"image": "/data/upload/1/a.png"}}], "project": "1.1",
                                     "label_config": config}),
                       ("/setup", {"project": "1.1", "schema": config})):
        data = json.dumps(body)
        started = time.monotonic()
        answer = client.post(path, data=data, content_type="application/json")
        assert time.monotonic() - started < 3  # reading the body, not parsing 24 MB of XML (64 s of CPU)
        assert answer.status_code == 413, path
        assert answer.json["error"].startswith(f"the labeling config is {len(config)} bytes, more than "
                                               "PRELABEL_LABEL_CONFIG_MAX_BYTES (2097152): not parsed")


def test_each_config_is_parsed_once_per_vocabulary(app):
    client = app.test_client()
    configs = app.extensions["prelabel"].configs
    for _ in range(20):
        assert client.post("/setup", json={"project": "1.1", "schema": CONFIG}).status_code == 200
    assert len(configs) == 1
    vocabulary = app.extensions["prelabel"].parts.in_force.current().vocabulary
    assert configs.read(CONFIG, vocabulary) is configs.read(CONFIG, vocabulary)  # the very same report


def test_a_bad_config_costs_its_parse_once_too(app):
    client = app.test_client()
    configs = app.extensions["prelabel"].configs
    bad = "<View><Image name='i' value='$i'/></View>"
    answers = [client.post("/setup", json={"project": "1.1", "schema": bad}) for _ in range(5)]
    assert {answer.status_code for answer in answers} == {400}
    assert "no <Choices>, <Taxonomy> or <RectangleLabels>" in answers[-1].json["error"]
    assert len(configs) == 1


def test_the_cache_is_bounded(app):
    client = app.test_client()
    for number in range(CAPACITY + 30):
        config = CONFIG.replace("Sitophilus oryzae", f"Label {number}")
        assert client.post("/setup", json={"project": "1.1", "schema": config}).status_code == 200
    assert len(app.extensions["prelabel"].configs) == CAPACITY


@pytest.mark.parametrize("schema", [{"not": "text"}, ["<View/>"], 12])
def test_a_config_that_is_not_text_is_a_400(app, schema):
    answer = app.test_client().post("/setup", json={"project": "1.1", "schema": schema})
    assert answer.status_code == 400 and answer.json["error"] == "the labeling config is not text"
