"""Reading labeling configs with label-studio-sdk, and the config Prelabel ships for the example vocabulary."""

from __future__ import annotations

import pytest

from helpers import ROOT, invoke
from prelabel.studio.labelconfig import (
    CHECKBOXES_UP_TO,
    DEFAULT_UNNAMED_REGION,
    EVIDENCE_NAME,
    REGION_EVIDENCE_NAME,
    RUNNER_UPS_NAME,
    Control,
    LabelConfigError,
    make_label_config,
    read_label_config,
)
from prelabel.vocabulary.vocab import load_vocabulary


def test_choices_with_aliases(example_vocab):
    config = ('<View><Image name="photo" value="$url"/><Choices name="pest" toName="photo">'
              '<Choice value="Halyomorpha halys" alias="BMSB"/><Choice value="Sitophilus oryzae"/>'
              '<Choice value="Vespa velutina"/></Choices></View>')
    report = read_label_config(config, example_vocab)
    control = report.control
    assert (control.from_name, control.to_name, control.data_key, control.kind) == ("pest", "photo", "url",
                                                                                     "choices")
    assert control.value("Halyomorpha halys") == {"choices": ["BMSB"]}  # stored under its alias
    assert control.label_of({"choices": ["BMSB"]}) == "Halyomorpha halys"
    assert report.missing_from_vocabulary == ["Vespa velutina"]
    assert len(report.missing_from_config) == len(example_vocab) - 2


def test_taxonomy_predictions_name_the_whole_path(example_vocab):
    config = ('<View><Image name="image" value="$image"/><Taxonomy name="tax" toName="image">'
              '<Choice value="Pentatomidae"><Choice value="Halyomorpha halys"/><Choice value="Nezara viridula"/>'
              '</Choice></Taxonomy></View>')
    control = read_label_config(config, example_vocab).control
    assert control.value("Nezara viridula") == {"taxonomy": [["Pentatomidae", "Nezara viridula"]]}
    assert control.label_of({"taxonomy": [["Pentatomidae", "Nezara viridula"]]}) == "Nezara viridula"
    assert Control.from_dict(control.to_dict()) == control


def test_the_first_usable_control_is_taken(example_vocab):
    config = ('<View><Text name="note" value="$note"/><Choices name="about_text" toName="note">'
              '<Choice value="x"/></Choices><Image name="image" value="$image"/>'
              '<Choices name="label" toName="image"><Choice value="Halyomorpha halys"/></Choices></View>')
    assert read_label_config(config, example_vocab).control.from_name == "label"


@pytest.mark.parametrize("config, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("<View><Image name='i' value='$i'/></View>", "no <Choices>, <Taxonomy> or <RectangleLabels>"),
    ("<View><Image name='i' value='$i'/><Choices name='c' toName='nowhere'><Choice value='a'/></Choices></View>",
     "no <Choices>, <Taxonomy> or <RectangleLabels>"),
    ("not xml at all <", "cannot be parsed"),
])
def test_configs_prelabel_cannot_label(config, message, example_vocab):
    with pytest.raises(LabelConfigError, match=message):
        read_label_config(config, example_vocab)


SHIPPED = [("plant-quarantine-pests.labeling-config.xml", "plant-quarantine-pests.yaml", None),
           ("plant-quarantine-pests.ja.labeling-config.xml", "plant-quarantine-pests.yaml", "ja"),
           ("manufacturing-defects.labeling-config.xml", "manufacturing-defects.yaml", None),
           ("manufacturing-defects.ja.labeling-config.xml", "manufacturing-defects.yaml", "ja")]


@pytest.mark.parametrize("config, vocab, language", SHIPPED)
def test_the_shipped_configs_are_what_prelabel_vocab_labelconfig_prints(config, vocab, language):
    from prelabel.vocabulary.vocab import VocabError

    try:
        vocabulary = load_vocabulary(ROOT / "vocab" / vocab)
    except VocabError as exc:  # manufacturing-defects.yaml waits for the loader fix on main
        pytest.skip(f"{vocab} does not load yet: {exc.problems[0]}")
    shipped = (ROOT / "plugin" / config).read_text(encoding="utf-8")
    printed = invoke("vocab", "labelconfig", "--vocab", str(ROOT / "vocab" / vocab),
                     *(["--language", language] if language else []))
    assert printed.exit_code == 0 and printed.stdout == shipped == make_label_config(vocabulary, language=language)
    report = read_label_config(shipped, vocabulary)
    assert report.labels == vocabulary.label_values
    assert report.missing_from_config == [] and report.missing_from_vocabulary == []
    assert report.problems() == []
    control = report.control
    assert (control.kind, control.evidence, control.none) == (
        "taxonomy", EVIDENCE_NAME, "該当なし" if language else "None of these")
    assert control.none_value() == {"taxonomy": [["None of these"]]}  # what the result stores: the alias
    assert control.runner_ups == RUNNER_UPS_NAME  # a correction in two actions (test_reviewer_page)
    assert all(control.can_show(label) for label in vocabulary.label_values) and not control.can_show(control.none)


def test_the_japanese_config_shows_japanese_and_stores_the_label(example_vocab):
    control = read_label_config(make_label_config(example_vocab, language="ja"), example_vocab).control
    assert control.display("Halyomorpha halys") == "クサギカメムシ"
    assert control.value("Halyomorpha halys") == {"taxonomy": [["Halyomorpha halys"]]}
    assert control.label_of({"taxonomy": [["Halyomorpha halys"]]}) == "Halyomorpha halys"
    assert control.label_of({"taxonomy": [["None of these"]]}) == "該当なし" and control.is_none("該当なし")


def test_small_vocabularies_get_checkboxes_large_ones_a_searchable_taxonomy():
    from prelabel.vocabulary.vocab import parse_vocabulary

    def vocabulary(size: int):
        return parse_vocabulary("domain: d\nlabels:\n" + "".join(f"  - label: class {n}\n" for n in range(size)))

    small, large = vocabulary(CHECKBOXES_UP_TO - 1), vocabulary(CHECKBOXES_UP_TO)
    config = make_label_config(small, none_choice="Nothing fits")
    control = read_label_config(config, small, none_choice="nothing  FITS").control  # case and spaces aside
    assert control.kind == "choices" and control.none == "Nothing fits" and control.evidence == EVIDENCE_NAME
    assert config.index('value="class 8"') < config.index('value="Nothing fits"')  # none last, after the hotkeys
    assert 'showInline="false"' in config and "display: flex" in config  # side column: choice and text in view
    config = make_label_config(large)
    assert '<Taxonomy name="label" toName="image" maxUsages="1" placeholder="Search 10 labels">' in config
    assert config.index('value="None of these"') < config.index('value="class 0"')  # none first in the dropdown
    assert '<TextArea name="prelabel_evidence" toName="image" editable="false" maxSubmissions="1"' in config
    assert read_label_config(config, large).control.kind == "taxonomy"


def test_none_choice_and_evidence_are_found_in_any_config(example_vocab):
    config = ('<View><Image name="photo" value="$url"/><Choices name="pest" toName="photo">'
              '<Choice value="クサギカメムシ" alias="Halyomorpha halys"/>'
              '<Choice value="該当なし" alias="None of these"/>'
              '<Choice value="Cat"/></Choices><TextArea name="prelabel_evidence" toName="photo"/>'
              '<TextArea name="notes" toName="photo"/></View>')
    report = read_label_config(config, example_vocab)
    control = report.control
    assert report.labels == ["Halyomorpha halys", "Cat"]  # the alias is the vocabulary label: it counts
    assert report.missing_from_vocabulary == ["Cat"] and len(report.missing_from_config) == len(example_vocab) - 1
    assert (control.none, control.evidence) == ("該当なし", "prelabel_evidence")
    assert control.value("Halyomorpha halys") == {"choices": ["Halyomorpha halys"]}
    assert control.display("Halyomorpha halys") == "クサギカメムシ"
    assert control.none_value() == {"choices": ["None of these"]}
    assert control.can_show("Halyomorpha halys") and not control.can_show("Nezara viridula")
    assert Control.from_dict(control.to_dict()) == control
    # A TextArea over another object, or with another name, is not the evidence; no none choice, no evidence.
    plain = ('<View><Image name="image" value="$image"/><Text name="t" value="$t"/><Choices name="label" '
             'toName="image"><Choice value="Halyomorpha halys"/><Choice value="none"/></Choices>'
             '<TextArea name="prelabel_evidence" toName="t"/><TextArea name="notes" toName="image"/></View>')
    report = read_label_config(plain, example_vocab)
    assert (report.control.none, report.control.evidence) == (None, None)
    problems = report.problems()
    assert any("no choice in the labeling config" in p and "with no choice selected" in p for p in problems)
    assert any("no 'None of these' choice (PRELABEL_NONE_CHOICE)" in p for p in problems)
    assert any('no <TextArea name="prelabel_evidence"> over the image' in p for p in problems)
    assert any("Prelabel never predicts them: none" in p for p in problems)


def test_a_vocabulary_label_is_never_the_none_choice():
    from prelabel.vocabulary.vocab import parse_vocabulary

    vocabulary = parse_vocabulary("domain: d\nlabels:\n  - label: None of these\n  - label: rust\n")
    report = read_label_config(make_label_config(vocabulary), vocabulary)
    assert report.control.none is None and report.labels == ["None of these", "rust"]


def test_old_controls_queued_before_this_version_still_load():
    old = {"from_name": "label", "to_name": "image", "data_key": "image", "kind": "choices", "results": {},
           "paths": {}}
    assert Control.from_dict(old) == Control()


def test_names_with_xml_characters_are_escaped():
    from prelabel.vocabulary.vocab import parse_vocabulary

    vocabulary = parse_vocabulary('domain: d\nlabels:\n  - label: \'Tom & "Jerry" <x>\'\n')
    report = read_label_config(make_label_config(vocabulary), vocabulary)
    assert report.labels == ['Tom & "Jerry" <x>']


@pytest.mark.parametrize("control, multiple", [
    ('<Choices name="c" toName="image" choice="multiple">', True),
    ('<Choices name="c" toName="image" choice="single">', False),
    ('<Choices name="c" toName="image">', False),  # Label Studio's default: one choice
    ('<Taxonomy name="c" toName="image">', True),  # a taxonomy checks several unless maxUsages says one
    ('<Taxonomy name="c" toName="image" maxUsages="1">', False),
    ('<Taxonomy name="c" toName="image" maxUsages="3">', True),
])
def test_multi_choice_controls_are_told_from_single_choice_ones(example_vocab, control, multiple):
    tag = control.split()[0][1:]
    config = (f'<View><Image name="image" value="$image"/>{control}<Choice value="Halyomorpha halys"/>'
              f'<Choice value="Nezara viridula"/></{tag}></View>')
    found = read_label_config(config, example_vocab).control
    assert found.multiple is multiple
    assert Control.from_dict(found.to_dict()) == found
    key = "taxonomy" if tag == "Taxonomy" else "choices"
    both = found.values(["Halyomorpha halys", "Nezara viridula"])[key]
    assert both == ([["Halyomorpha halys"], ["Nezara viridula"]] if key == "taxonomy"
                    else ["Halyomorpha halys", "Nezara viridula"])


# ---- region projects (issue 26) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("config, vocab", [("plant-quarantine-pests.regions.labeling-config.xml",
                                            "plant-quarantine-pests.yaml"),
                                           ("manufacturing-defects.regions.labeling-config.xml",
                                            "manufacturing-defects.yaml")])
def test_the_shipped_region_configs_are_what_labelconfig_regions_prints(config, vocab):
    vocabulary = load_vocabulary(ROOT / "vocab" / vocab)
    shipped = (ROOT / "plugin" / config).read_text(encoding="utf-8")
    printed = invoke("vocab", "labelconfig", "--regions", "--vocab", str(ROOT / "vocab" / vocab))
    assert printed.exit_code == 0 and printed.stdout == shipped == make_label_config(vocabulary, regions=True)
    report = read_label_config(shipped, vocabulary)
    assert report.problems() == [] and report.to_dict()["regions"] == "region"
    control = report.control
    assert control.kind == "taxonomy" and control.has_choices  # the image-level label stays beside the boxes
    regions = control.regions
    assert regions is not None and (regions.from_name, regions.to_name) == ("region", "image")
    assert sorted(regions.results) == sorted(vocabulary.label_values)
    assert (regions.unnamed, regions.evidence) == (DEFAULT_UNNAMED_REGION, REGION_EVIDENCE_NAME)
    assert Control.from_dict(control.to_dict()) == control


def test_regions_alone_and_their_aliases(example_vocab):
    config = ('<View><Image name="photo" value="$url"/><RectangleLabels name="box" toName="photo">'
              '<Label value="クサギカメムシ" alias="Halyomorpha halys"/><Label value="Sitophilus oryzae"/>'
              '<Label value="Vespa velutina"/></RectangleLabels></View>')
    report = read_label_config(config, example_vocab)
    control, regions = report.control, report.control.regions
    assert regions is not None and not control.has_choices
    assert (control.from_name, control.to_name, control.data_key, control.kind) == ("box", "photo", "url",
                                                                                     "rectanglelabels")
    assert regions.labels_of("Halyomorpha halys") == ["Halyomorpha halys"]  # the alias is what a region stores
    assert regions.labels_of("Nezara viridula") == [] and regions.labels_of(None) == []  # no unnamed label here
    assert regions.label_of({"rectanglelabels": ["Halyomorpha halys"]}) == "Halyomorpha halys"
    assert any("Not in the vocabulary" in problem for problem in report.problems())
    assert not any("None of these" in problem for problem in report.problems())  # no choices: no none to miss
    assert Control.from_dict(control.to_dict()) == control


def test_a_japanese_region_config_names_the_unnamed_label_in_japanese(example_vocab):
    control = read_label_config(make_label_config(example_vocab, language="ja", regions=True), example_vocab).control
    assert control.regions is not None and control.regions.unnamed == DEFAULT_UNNAMED_REGION  # stored as alias
    assert control.regions.labels_of(None) == [DEFAULT_UNNAMED_REGION]
    assert control.regions.label_of({"rectanglelabels": [DEFAULT_UNNAMED_REGION]}) is None
