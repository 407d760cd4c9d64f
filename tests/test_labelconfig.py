"""Reading labeling configs with label-studio-sdk, and the config Prelabel ships for the example vocabulary."""

from __future__ import annotations

import pytest

from helpers import ROOT
from prelabel.studio.labelconfig import Control, LabelConfigError, make_label_config, read_label_config


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
    ("<View><Image name='i' value='$i'/></View>", "no <Choices> or <Taxonomy>"),
    ("<View><Image name='i' value='$i'/><Choices name='c' toName='nowhere'><Choice value='a'/></Choices></View>",
     "no <Choices> or <Taxonomy>"),
    ("not xml at all <", "cannot be parsed"),
])
def test_configs_prelabel_cannot_label(config, message, example_vocab):
    with pytest.raises(LabelConfigError, match=message):
        read_label_config(config, example_vocab)


def test_the_shipped_config_matches_the_example_vocabulary(example_vocab):
    shipped = (ROOT / "plugin" / "plant-quarantine-pests.labeling-config.xml").read_text(encoding="utf-8")
    assert shipped == make_label_config(example_vocab)
    report = read_label_config(shipped, example_vocab)
    assert report.labels == example_vocab.label_values
    assert report.missing_from_config == [] and report.missing_from_vocabulary == []


def test_names_with_xml_characters_are_escaped():
    from prelabel.vocabulary.vocab import parse_vocabulary

    vocabulary = parse_vocabulary('domain: d\nlabels:\n  - label: \'Tom & "Jerry" <x>\'\n')
    report = read_label_config(make_label_config(vocabulary), vocabulary)
    assert report.labels == ['Tom & "Jerry" <x>']
