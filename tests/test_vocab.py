"""Loading a vocabulary: the example loads, and every kind of bad file is refused whole, with file, line, field."""

from __future__ import annotations

import textwrap

import pytest

from prelabel.vocabulary.descriptions import DescriptionsError, load_descriptions
from prelabel.vocabulary.suggested import SuggestedError, load_suggestions
from prelabel.vocabulary.vocab import VocabError, load_vocabulary, parse_vocabulary


def write(tmp_path, text: str):
    path = tmp_path / "domain.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(tmp_path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(VocabError) as caught:
        load_vocabulary(path)
    assert str(path) in str(caught.value)
    return caught.value.problems


def test_example_vocabulary_is_realistic(example_vocab):
    assert example_vocab.domain == "plant-quarantine-pests"
    assert len(example_vocab) >= 20
    for entry in example_vocab:
        assert entry.scientific, entry.label
        assert entry.common.get("en"), entry.label
        assert entry.common.get("ja"), entry.label
    assert len(example_vocab.version) == 12


def test_every_documented_field_is_read(tmp_path):
    vocabulary = load_vocabulary(write(tmp_path, """
        domain: plant-quarantine-pests
        labels:
          - label: Halyomorpha halys          # the canonical value
            scientific: [Halyomorpha halys, Halyomorpha mista]
            common:
              en: [brown marmorated stink bug]
              ja: [クサギカメムシ]
            aliases: [BMSB]
            parent: Pentatomidae
            description: Shield-shaped brown bug.
    """))
    entry = vocabulary.get("Halyomorpha halys")
    assert entry.scientific == ("Halyomorpha halys", "Halyomorpha mista")
    assert entry.common == {"en": ("brown marmorated stink bug",), "ja": ("クサギカメムシ",)}
    assert entry.aliases == ("BMSB",)
    assert entry.parent == "Pentatomidae"
    assert entry.description == "Shield-shaped brown bug."
    assert entry.line == 3
    kinds = [(name.kind, name.language, name.text) for name in entry.names()]
    assert kinds[0] == ("label", None, "Halyomorpha halys")
    assert ("common", "ja", "クサギカメムシ") in kinds and ("alias", None, "BMSB") in kinds


def test_version_changes_with_content_only(tmp_path):
    text = "domain: d\nlabels:\n  - label: A\n    aliases: [x]\n"
    assert parse_vocabulary(text).version == parse_vocabulary("# a comment\n" + text).version
    assert parse_vocabulary(text).version != parse_vocabulary(text.replace("[x]", "[y]")).version


def test_malformed_yaml_names_file_and_line(tmp_path):
    found = problems(tmp_path, """
        domain: d
        labels:
          - label: A
            aliases: [unclosed
          - label: B
    """)
    assert len(found) == 1
    assert "malformed YAML" in found[0]
    # PyYAML's line and column of the unclosed "[" lead; where it gave up (the next item) follows.
    assert found[0].split(": ")[0].endswith(":4:14") and "at line 5, column 10: a flow sequence" in found[0]


def test_unknown_and_mistyped_fields(tmp_path):
    found = problems(tmp_path, """
        domain: d
        labels:
          - label: A
            comon: {en: [a]}
          - label: B
            scientific: 12
          - label: C
            common: [c]
          - label: D
            parent: [x, y]
          - label: E
            common: {english: [e]}
          - label: 42
    """)
    text = "\n".join(found)
    assert ":4: labels[0] (A).comon: unknown field" in text
    assert ":6: labels[1] (B).scientific: expected a list of names" in text
    assert ":8: labels[2] (C).common: expected a mapping of language code to names" in text
    assert ":10: labels[3] (D).parent: expected a non-empty string" in text
    assert ":12: labels[4] (E).common.english: expected a two-letter ISO 639-1 language code" in text
    assert ":13: labels[5].label: expected text, got '42'" in text
    assert len(found) == 6


def test_empty_names_and_lists(tmp_path):
    found = problems(tmp_path, """
        domain: d
        labels:
          - label: ""
          - label: B
            aliases: ["  "]
          - label: C
            scientific: []
          - label: D
            common: {en: [d, ~]}
    """)
    text = "\n".join(found)
    assert ":3: labels[0].label: empty name" in text
    assert ":5: labels[1] (B).aliases[0]: empty name" in text
    assert ":7: labels[2] (C).scientific: empty list" in text
    assert ":9: labels[3] (D).common.en[1]: expected a non-empty string" in text


def test_missing_top_level_parts(tmp_path):
    assert any("labels: missing" in p for p in problems(tmp_path, "domain: d\n"))
    assert any("top level: expected a mapping" in p for p in problems(tmp_path, "- just a list\n"))
    assert any("top level: expected a mapping" in p for p in problems(tmp_path, ""))
    assert any("labels: empty" in p for p in problems(tmp_path, "domain: d\nlabels: []\n"))


def test_duplicate_labels(tmp_path):
    found = problems(tmp_path, """
        domain: d
        labels:
          - label: A
          - label: B
          - label: A
    """)
    assert found == [f"{tmp_path / 'domain.yaml'}:5: label 'A': duplicate label (first defined at line 3)"]


def test_every_name_conflict_is_listed(tmp_path):
    found = problems(tmp_path, """
        domain: d
        labels:
          - label: Sitophilus oryzae
            common: {en: [rice weevil], ja: [コクゾウムシ]}
            aliases: [weevil]
          - label: Sitophilus zeamais
            common: {en: [Weevils]}
          - label: Sitophilus granarius
            common: {ja: [こくぞうむし]}
          - label: Other
            aliases: [weevil]
    """)
    conflicts = [p for p in found if "name conflict" in p]
    assert len(conflicts) == 2, found
    weevil = next(p for p in conflicts if "weevil" in p.lower())
    assert "3 labels" in weevil and "'Weevils' in label 'Sitophilus zeamais' (line 6)" in weevil
    assert "'Other' (line 10)" in weevil
    kana = next(p for p in conflicts if "コクゾウムシ" in p)
    assert "'こくぞうむし' in label 'Sitophilus granarius' (line 8)" in kana


def test_nothing_is_half_loaded(tmp_path):
    """One bad label among good ones refuses the whole file: no partial vocabulary is ever returned."""
    path = write(tmp_path, """
        domain: d
        labels:
          - label: A
          - label: B
            colour: red
          - label: C
    """)
    with pytest.raises(VocabError) as caught:
        load_vocabulary(path)
    assert len(caught.value.problems) == 1


def test_unreadable_files(tmp_path):
    with pytest.raises(VocabError, match="file not found"):
        load_vocabulary(tmp_path / "missing.yaml")
    path = tmp_path / "latin1.yaml"
    path.write_bytes("domain: d\nlabels:\n  - label: caf\xe9\n".encode("latin-1"))
    with pytest.raises(VocabError, match="cannot read file"):
        load_vocabulary(path)


def test_single_name_without_brackets_is_a_list_of_one(tmp_path):
    vocabulary = load_vocabulary(write(tmp_path, """
        domain: d
        labels:
          - label: A
            aliases: alpha
            common: {en: a thing}
    """))
    assert vocabulary.get("A").aliases == ("alpha",)
    assert vocabulary.get("A").common == {"en": ("a thing",)}


def test_names_that_differ_by_a_number_or_letter_are_different_names(tmp_path):
    vocabulary = load_vocabulary(write(tmp_path, """
        domain: d
        labels:
          - label: RT flaw type 1
            common: {en: [type 1 flaw], ja: [第1種きず]}
          - label: RT flaw type 2
            common: {en: [type 2 flaw], ja: [第2種きず]}
          - label: Crack A
          - label: Crack B
          - label: Weld type 1
          - label: Weld type 2
    """))
    assert len(vocabulary) == 6
    # An author citation is still cut from a binomial, so it can never tell two names apart.
    assert problems(tmp_path, """
        domain: d
        labels:
          - label: Sitophilus oryzae
          - label: Other
            scientific: [Sitophilus oryzae (Linnaeus, 1763)]
    """)[0].count("name conflict") == 1


def test_the_shipped_vocabularies_load():
    from helpers import ROOT

    for path in sorted((ROOT / "vocab").glob("*.yaml")):
        if path.name.count(".") == 1:  # not a <vocab>.descriptions.yaml or <vocab>.suggested.yaml beside it
            assert len(load_vocabulary(path)) >= 20, path


@pytest.mark.parametrize("load, error", [(load_descriptions, DescriptionsError), (load_suggestions, SuggestedError)])
def test_files_beside_a_vocabulary_refuse_bad_yaml_with_file_and_line(tmp_path, load, error):
    missing = tmp_path / "none.yaml"
    assert not load(missing)  # not written yet: empty
    broken = tmp_path / "broken.yaml"
    broken.write_text("top:\n  - a\n  - [b\n", encoding="utf-8")
    with pytest.raises(error, match=f"^{broken}:3:5: malformed YAML: .* at line 4, column 1: a flow sequence opened"):
        load(broken)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("ラベル: x".encode("shift_jis"))
    with pytest.raises(error, match=f"^{latin}: cannot read file"):
        load(latin)
