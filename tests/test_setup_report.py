"""/setup tells the admin, in words, how the project's labeling config and the vocabulary differ (Flask's test
client, the real Redis)."""

from __future__ import annotations

import logging

import pytest

from helpers import EXAMPLE_VOCAB, TEST_REDIS_URL
from prelabel.service.app import create_app
from prelabel.settings import Settings
from prelabel.studio.labelconfig import make_label_config
from prelabel.vocabulary.vocab import load_vocabulary

JA = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
      '<Choice value="クサギカメムシ" alias="Halyomorpha halys"/><Choice value="Sitophilus oryzae" alias="SO"/>'
      '<Choice value="Cat"/><Choice value="該当なし" alias="{none}"/></Choices>'
      '<TextArea name="prelabel_evidence" toName="image" editable="false"/></View>')


def client_for(tmp_path, **overrides):
    settings = Settings.from_env({}, vocab=str(EXAMPLE_VOCAB), redis_url=TEST_REDIS_URL, clip_model="",
                                 data_dir=str(tmp_path), **overrides)
    return create_app(settings).test_client()


def test_setup_reports_the_mismatch_in_words_and_respects_aliases(tmp_path, redis_conn, caplog):
    client = client_for(tmp_path)
    with caplog.at_level(logging.WARNING, logger="prelabel.service.routes"):
        response = client.post("/setup", json={"project": "3.17", "schema": JA.format(none="None of these")})
    assert response.status_code == 200
    config = response.json["config"]
    # クサギカメムシ stands for Halyomorpha halys (its alias), Sitophilus oryzae by its value: 2 labels, and Cat.
    assert config["labels"] == 3 and config["missing_from_vocabulary"] == ["Cat"]
    assert len(config["missing_from_config"]) == 28 and "Halyomorpha halys" not in config["missing_from_config"]
    assert (config["none_choice"], config["evidence"]) == ("該当なし", "prelabel_evidence")
    lacking = [label for label in load_vocabulary(EXAMPLE_VOCAB).label_values
               if label not in ("Halyomorpha halys", "Sitophilus oryzae")]
    assert config["problems"] == [
        "28 vocabulary label(s) have no choice in the labeling config: when Prelabel finds one of them, the reviewer "
        f"sees it as '該当なし', with the label named in the evidence: {', '.join(lacking[:10])} and 18 more",
        "1 choice(s) are not labels of the vocabulary (neither value nor alias): Prelabel never predicts them: Cat"]
    logged = [record.getMessage() for record in caplog.records]
    assert logged == [f"labeling config of project 3: {problem}" for problem in config["problems"]]


def test_the_shipped_config_has_nothing_to_report(tmp_path, redis_conn):
    config = make_label_config(load_vocabulary(EXAMPLE_VOCAB))
    answer = client_for(tmp_path).post("/setup", json={"project": "3.1", "schema": config}).json["config"]
    assert answer["problems"] == [] and answer["missing_from_config"] == answer["missing_from_vocabulary"] == []
    assert (answer["type"], answer["labels"], answer["none_choice"]) == ("taxonomy", 30, "None of these")


@pytest.mark.parametrize("setting, found", [("Nothing fits", "該当なし"), (None, None)])
def test_the_none_choice_is_the_one_prelabel_none_choice_names(tmp_path, redis_conn, setting, found):
    overrides = {"none_choice": setting} if setting else {}
    answer = client_for(tmp_path, **overrides).post("/setup", json={
        "project": "3.1", "schema": JA.format(none="nothing FITS" if setting else "Aucun")}).json["config"]
    assert answer["none_choice"] == found
    if found is None:  # the default "None of these" is not in this config: 該当なし (Aucun) is just a choice
        assert "該当なし" in answer["missing_from_vocabulary"]
        assert any("no 'None of these' choice (PRELABEL_NONE_CHOICE)" in p for p in answer["problems"])
        assert any("the reviewer sees it with no choice selected" in p for p in answer["problems"])
