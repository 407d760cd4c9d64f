"""Labeling configs: which <Choices> or <Taxonomy> over which <Image> gets our label, whether the config has a
"none of these" choice and an evidence <TextArea>, which <RectangleLabels> over that image gets our regions (a
region project, docs/regions.md), and the config Prelabel ships (`prelabel vocab labelconfig`).

Parsed with label-studio-sdk's LabelInterface; the taxonomy's nesting (which the SDK flattens) is read from
the XML, because a taxonomy prediction names the whole path to a label.

Labels and choices. A choice stands for a vocabulary label when its value or its alias is that label (value
first): `<Choice value="錆" alias="rust"/>` shows 錆 to the reviewer, stores "rust" in results, and is the
label "rust". A prediction must carry what the choice stores (the alias if it has one), else Label Studio
selects nothing (docs/label-studio-testing.md).

The shipped layout (make_label_config), checked in Label Studio 1.23.2 with Chromium: the image on the left; on
the right, always in view, the label control and under it the evidence TextArea that the prediction fills
(read-only, `maxSubmissions="1"` hides the empty input box). Up to CHECKBOXES_UP_TO choices: checkboxes, each
with its hotkey shown. More: a <Taxonomy> with `maxUsages="1"`: the selected label is a tag in its input (in
view however many labels there are) and its dropdown has a search box; it has no hotkeys. A <Choices
layout="select"> was rejected: no search box, and its auto-assigned hotkeys stay active unseen (pressing 1
silently changes the selection); vertical or inline checkboxes put a suggestion among 30 or 300 below the fold.

A correction in two actions. With checkboxes, clicking another choice (or its hotkey) replaces the suggestion;
then Submit. A Taxonomy takes five (remove the tag, open the dropdown, type, tick, Submit), so under it the
shipped config has a small second control, RUNNER_UPS_NAME: a <Choices> whose choices Label Studio loads from
the task's data (`Value="$prelabel_runner_ups"`, written with each prediction: prelabel.studio.columns), the
prediction's runner-ups with their scores. `Value`, capitalised: Label Studio's editor reads attribute names in
any case, while its server (core/label_config.py, extract_data_types, case-sensitive `@value`) would otherwise
count the key as task data every imported task must carry ('"prelabel_runner_ups" key is expected in task
data'); its schema then wants a child, an empty <View/>. A task without the key shows no runner-ups, and
imports stay as they were. Ticking one, then
Submit, corrects the label: a runner-up ticked overrides the label control when an annotation is read
(prelabel.learning.feedback, prelabel.report.parse).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prelabel.studio.wording import PHRASES
from prelabel.text import quote
from prelabel.vocabulary.vocab import Vocabulary

if TYPE_CHECKING:
    from label_studio_sdk.label_interface.interface import LabelInterface

EVIDENCE_NAME = "prelabel_evidence"  # the <TextArea name> Prelabel fills with its evidence
REGION_EVIDENCE_NAME = "prelabel_region_evidence"  # the per-region <TextArea name>: each region's evidence line
REGIONS_NAME = "region"  # the shipped <RectangleLabels name>
DEFAULT_UNNAMED_REGION = "Not in the vocabulary"  # the region label of a finding no vocabulary label fits
DEFAULT_NONE_CHOICE = "None of these"  # PRELABEL_NONE_CHOICE's default
CHECKBOXES_UP_TO = 10  # choices (the none included) shown as checkboxes; more become a searchable Taxonomy
RUNNER_UPS_NAME = "prelabel_runner_ups"  # the <Choices name> of the runner-ups (their options in the task's data)


_JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")  # kana, kanji


@dataclass(frozen=True)
class RegionControl:
    """Where regions go: a <RectangleLabels> named from_name over the same <Image> as the label. `results` maps
    each vocabulary label to what a region stores (its alias, if any); `unnamed` is what a region stores for a
    finding no vocabulary label fits (the config's DEFAULT_UNNAMED_REGION label; None: the config has none, and
    such a region is written with no label at all); `evidence` the per-region TextArea (perRegion="true")."""

    from_name: str = REGIONS_NAME
    to_name: str = "image"
    results: dict[str, str] = field(default_factory=dict)
    unnamed: str | None = None
    evidence: str | None = None

    def labels_of(self, label: str | None) -> list[str]:
        """The rectanglelabels a region of this label stores: [] for a label the config cannot show."""
        if label is not None and label in self.results:
            return [self.results[label]]
        return [self.unnamed] if self.unnamed is not None else []

    def label_of(self, value: Mapping[str, Any]) -> str | None:
        """The vocabulary label a rectanglelabels value names (the reverse of labels_of), or its stored value."""
        stored = (value.get("rectanglelabels") or [None])[0]
        back = {kept: label for label, kept in self.results.items()}
        return back.get(stored, stored) if stored != self.unnamed else None


@dataclass(frozen=True)
class Control:
    """Where a label goes in the labeling config: a <Choices> or <Taxonomy> named from_name over an <Image>
    named to_name whose value is $data_key.

    Keys of `results` (choices) and `paths` (taxonomy) are labels: the vocabulary label a choice stands for, or
    the choice's value for a choice that stands for none. `results` gives what a result stores (the alias, if
    any); `paths` the taxonomy path of stored values; `shown` what the reviewer reads, where it differs from
    the label. `none` is the key of the "none of these" choice, `evidence` the name of the evidence TextArea
    over the same image (None when the config has none). `regions`: where the regions go, in a region project;
    a config with <RectangleLabels> and no image-level choices has kind "rectanglelabels" (no choice result)."""

    from_name: str = "label"
    to_name: str = "image"
    data_key: str = "image"
    kind: str = "choices"  # or "taxonomy"
    results: dict[str, str] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=dict)
    none: str | None = None
    evidence: str | None = None
    multiple: bool = False  # <Choices choice="multiple">, or a <Taxonomy> without maxUsages="1"
    runner_ups: str | None = None  # the name of the runner-ups <Choices> over the same image (RUNNER_UPS_NAME)
    regions: RegionControl | None = None

    @property
    def has_choices(self) -> bool:
        """Does the config have an image-level label (a <Choices> or <Taxonomy>)?"""
        return self.kind in ("choices", "taxonomy")

    def can_show(self, label: str) -> bool:
        """Does the config offer a choice for this vocabulary label?"""
        return label != self.none and label in (self.paths if self.kind == "taxonomy" else self.results)

    @property
    def language(self) -> str:
        """The language reviewers read the choices in: "ja" when they show Japanese names, else "en"."""
        return "ja" if any(_JAPANESE.search(text) for text in self.shown.values()) else "en"

    def display(self, label: str) -> str:
        """What the reviewer reads for a label: its choice's value."""
        return self.shown.get(label, label)

    def value(self, label: str) -> dict[str, Any]:
        return self.values([label])

    def values(self, labels: list[str]) -> dict[str, Any]:
        """The result value selecting these labels (several only where the control is `multiple`)."""
        if self.kind == "taxonomy":
            return {"taxonomy": [self.paths.get(label, [label]) for label in labels]}
        return {"choices": [self.results.get(label, label) for label in labels]}

    def none_value(self) -> dict[str, Any] | None:
        """The result value of the "none of these" choice, or None when the config has no such choice."""
        return self.value(self.none) if self.none is not None else None

    def label_of(self, value: Mapping[str, Any]) -> str | None:
        """The label a result value names (the reverse of value()): a vocabulary label, the none choice's key, or
        the value of a choice outside the vocabulary."""
        if self.kind == "taxonomy":
            paths = value.get("taxonomy") or []
            if not paths or not paths[0]:
                return None
            by_path = {tuple(path): label for label, path in self.paths.items()}
            return str(by_path.get(tuple(paths[0]), paths[0][-1]))
        choices = value.get("choices") or []
        if not choices:
            return None
        back = {stored: label for label, stored in self.results.items()}
        return str(back.get(choices[0], choices[0]))

    def is_none(self, label: str | None) -> bool:
        return label is not None and label == self.none

    def to_dict(self) -> dict[str, Any]:
        return {"from_name": self.from_name, "to_name": self.to_name, "data_key": self.data_key, "kind": self.kind,
                "results": self.results, "paths": self.paths, "shown": self.shown, "none": self.none,
                "evidence": self.evidence, "multiple": self.multiple, "runner_ups": self.runner_ups,
                "regions": None if self.regions is None else vars(self.regions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Control:
        regions = data.get("regions")
        return cls(**{**data, "regions": RegionControl(**regions) if regions else None})


class LabelConfigError(ValueError):
    """A config Prelabel cannot pre-label: no Choices/Taxonomy over an Image, or not XML at all."""


@dataclass(frozen=True)
class ConfigReport:
    control: Control
    labels: list[str]  # the labels the config offers (the none choice excluded)
    missing_from_vocabulary: list[str] = field(default_factory=list)  # choices that are no vocabulary label
    missing_from_config: list[str] = field(default_factory=list)  # vocabulary labels without a choice

    def problems(self, none_choice: str = DEFAULT_NONE_CHOICE) -> list[str]:
        """What an admin should know about this config, in words: each entry one sentence."""
        found = []
        if self.missing_from_config:
            shown_as = (f"as {self.control.display(self.control.none)!r}" if self.control.none is not None
                        else "with no choice selected")
            found.append(f"{len(self.missing_from_config)} vocabulary label(s) have no choice in the labeling "
                         f"config: when Prelabel finds one of them, the reviewer sees it {shown_as}, with the label "
                         f"named in the evidence: {_listed(self.missing_from_config)}")
        if self.missing_from_vocabulary:
            found.append(f"{len(self.missing_from_vocabulary)} choice(s) are not labels of the vocabulary (neither "
                         f"value nor alias): Prelabel never predicts them: {_listed(self.missing_from_vocabulary)}")
        regions = self.control.regions
        if regions is not None and regions.unnamed is None:
            found.append(f"no {DEFAULT_UNNAMED_REGION!r} label in <RectangleLabels name=\"{regions.from_name}\">: a "
                         "finding no vocabulary label fits becomes a region with no label; `prelabel vocab "
                         "labelconfig --regions` makes a config with one")
        if self.control.none is None and self.control.has_choices:
            found.append(f"no {none_choice!r} choice (PRELABEL_NONE_CHOICE): when nothing fits, no choice is "
                         "selected and reviewers cannot submit that nothing fits; `prelabel vocab labelconfig` "
                         "makes a config with one")
        if self.control.evidence is None:
            found.append(f"no <TextArea name=\"{EVIDENCE_NAME}\"> over the image {self.control.to_name!r}: reviewers "
                         "do not see why a label was suggested; `prelabel vocab labelconfig` makes a config with one")
        return found

    def to_dict(self, none_choice: str = DEFAULT_NONE_CHOICE) -> dict[str, Any]:
        return {"from_name": self.control.from_name, "to_name": self.control.to_name, "type": self.control.kind,
                "multiple": self.control.multiple, "labels": len(self.labels),
                "missing_from_vocabulary": self.missing_from_vocabulary,
                "missing_from_config": self.missing_from_config,
                "none_choice": (self.control.display(self.control.none) if self.control.none is not None
                                else None),
                "evidence": self.control.evidence,
                "regions": None if self.control.regions is None else self.control.regions.from_name,
                "problems": self.problems(none_choice)}


def _listed(items: list[str], most: int = 10) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def read_label_config(config: str, vocabulary: Vocabulary, none_choice: str = DEFAULT_NONE_CHOICE) -> ConfigReport:
    """Find the first Choices or Taxonomy control over an Image; compare its labels with the vocabulary; find
    its "none of these" choice (value or alias `none_choice`, when that is no vocabulary label) and the evidence
    TextArea over the same image."""
    from label_studio_sdk.label_interface.interface import LabelInterface

    if not config or not config.strip():
        raise LabelConfigError("the labeling config is empty")
    try:
        interface = LabelInterface(config)
        root = ElementTree.fromstring(config)
    except Exception as exc:  # the SDK raises a mix of XML and validation errors
        raise LabelConfigError(f"the labeling config cannot be parsed: {exc}") from None
    images = {obj.name: obj for obj in interface.objects if obj.tag == "Image"}
    known = set(vocabulary.label_values)
    regions = _region_controls(interface, images, known)
    for control in interface.controls:
        if control.tag not in ("Choices", "Taxonomy") or control.name == RUNNER_UPS_NAME:
            continue
        target = next((name for name in control.to_name if name in images), None)
        if target is None:
            continue
        data_key = (images[target].value or "").lstrip("$")
        element = next(node for node in root.iter(control.tag) if node.get("name") == control.name)
        if control.tag == "Choices":
            choices = [(tag.attr.get("value", stored), stored) for stored, tag in control.labels_attrs.items()]
            kind, nodes = "choices", [(value, stored, [stored]) for value, stored in choices]
            multiple = (element.get("choice") or "single").strip().lower() == "multiple"
        else:
            kind, nodes = "taxonomy", _taxonomy_nodes(element)
            multiple = (element.get("maxUsages") or "").strip() != "1"
        results: dict[str, str] = {}
        paths: dict[str, list[str]] = {}
        shown: dict[str, str] = {}
        none = None
        for value, stored, path in nodes:
            label = value if value in known else stored if stored in known else value
            if label in results or label in paths:
                continue  # two choices for one label: the first one is used
            if label not in known and none is None and (_same(value, none_choice) or _same(stored, none_choice)):
                none = label
            if kind == "choices":
                results[label] = stored
            else:
                paths[label] = path
            if value != label:
                shown[label] = value
        runner_ups = next((c.name for c in interface.controls if c.tag == "Choices" and c.name == RUNNER_UPS_NAME
                           and target in c.to_name), None)
        made = Control(control.name, target, data_key, kind, results=results, paths=paths, shown=shown, none=none,
                       evidence=_evidence(interface, target), multiple=multiple, runner_ups=runner_ups,
                       regions=regions.get(target))
        labels = [label for label in (paths if kind == "taxonomy" else results) if label != none]
        return _report(made, labels, vocabulary)
    if regions:  # a region project without image-level choices: the first <RectangleLabels> over an <Image>
        target, found = next(iter(regions.items()))
        made = Control(found.from_name, target, (images[target].value or "").lstrip("$"), "rectanglelabels",
                       results=dict(found.results), evidence=_evidence(interface, target), regions=found)
        return _report(made, list(found.results), vocabulary)
    raise LabelConfigError("the labeling config has no <Choices>, <Taxonomy> or <RectangleLabels> whose toName is "
                           "an <Image>: Prelabel pre-labels image classification and region projects")


def _evidence(interface: LabelInterface, target: str) -> str | None:
    return next((c.name for c in interface.controls if c.tag == "TextArea" and c.name == EVIDENCE_NAME
                 and target in c.to_name), None)


def _report(made: Control, labels: list[str], vocabulary: Vocabulary) -> ConfigReport:
    known = set(vocabulary.label_values)
    if labels and not known.intersection(labels):
        # One backend serves one vocabulary: another vocabulary's project must never get its predictions,
        # its model_version or its learning (issue 21: a second `up` rewired the first project).
        raise LabelConfigError(
            f"none of the labeling config's {len(labels)} choice(s) is a label of this backend's vocabulary "
            f"({quote(vocabulary.domain, 60)}, {len(known)} labels): the project belongs to another "
            f"vocabulary; connect it to the backend that serves that one")
    return ConfigReport(made, labels, [label for label in labels if label not in known],
                        [label for label in vocabulary.label_values if label not in set(labels)])


def _region_controls(interface: LabelInterface, images: dict[str, Any], known: set[str]) -> dict[str, RegionControl]:
    """The first <RectangleLabels> over each <Image>, by the image's name: its labels (value, else alias, as for
    choices), its label for findings outside the vocabulary, and its per-region evidence TextArea."""
    found: dict[str, RegionControl] = {}
    for control in interface.controls:
        if control.tag != "RectangleLabels":
            continue
        target = next((name for name in control.to_name if name in images and name not in found), None)
        if target is None:
            continue
        results: dict[str, str] = {}
        unnamed = None
        for stored, tag in control.labels_attrs.items():
            value = tag.attr.get("value", stored)
            label = value if value in known else stored if stored in known else None
            if label is not None:
                results.setdefault(label, stored)
            elif unnamed is None and (_same(value, DEFAULT_UNNAMED_REGION) or _same(stored, DEFAULT_UNNAMED_REGION)):
                unnamed = stored
        evidence = next((c.name for c in interface.controls if c.tag == "TextArea" and c.name == REGION_EVIDENCE_NAME
                         and target in c.to_name), None)
        found[target] = RegionControl(control.name, target, results, unnamed, evidence)
    return found


def _taxonomy_nodes(taxonomy: ElementTree.Element) -> list[tuple[str, str, list[str]]]:
    """(value, stored, path of stored values) for each leaf and inner choice of a <Taxonomy>."""
    nodes: list[tuple[str, str, list[str]]] = []

    def walk(node: ElementTree.Element, trail: list[str]) -> None:
        for child in node.findall("Choice"):
            value = child.get("value", "")
            stored = child.get("alias") or value
            path = [*trail, stored]
            nodes.append((value, stored, path))
            walk(child, path)

    walk(taxonomy, [])
    return nodes


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))


def make_label_config(vocabulary: Vocabulary, none_choice: str = DEFAULT_NONE_CHOICE,
                      language: str | None = None, regions: bool = False) -> str:
    """The labeling config for a vocabulary, laid out for reviewers (see the module's docstring): one choice per
    label and a "none of these" choice, and the evidence TextArea that Prelabel's predictions fill.

    `language` (e.g. "ja"): each choice shows the label's first common name in that language and stores the
    label as its alias (labels without one, or whose name another label already shows, show the label).
    `regions`: the region layout: under the image (which stays in view) a <RectangleLabels> with the same labels
    and one for findings outside the vocabulary, and under the evidence the selected region's own evidence line;
    the image-level choice stays (Prelabel derives it from the regions)."""
    choices: list[tuple[str, str | None]] = []  # (value, alias)
    taken: set[str] = set()
    for entry in vocabulary:
        name = next(iter(entry.common.get(language, ())), None) if language else None
        if name and name not in taken and name not in vocabulary.label_values:
            choices.append((name, entry.label))
            taken.add(name)
        else:
            choices.append((entry.label, None))
            taken.add(entry.label)
    say = PHRASES[language if language in PHRASES else "en"]  # the config's own words in the choices' language
    none_shown = {"ja": "該当なし"}.get(language or "", none_choice)
    none = (none_shown, none_choice if none_shown != none_choice else None)
    checkboxes = len(choices) + 1 <= CHECKBOXES_UP_TO

    def tag(value: str, alias: str | None) -> str:
        return f'<Choice value="{_escape(value)}"' + (f' alias="{_escape(alias)}"' if alias else "") + "/>"

    indent = "        "
    if checkboxes:
        items = "\n".join(indent + tag(*choice) for choice in [*choices, none])
        control = ('      <Choices name="label" toName="image" choice="single" showInline="false">\n'
                   f"{items}\n      </Choices>\n")
    else:
        items = "\n".join(indent + tag(*choice) for choice in [none, *choices])
        control = (f'      <Taxonomy name="label" toName="image" maxUsages="1" '
                   f'placeholder="{say["p_search"].format(count=len(choices))}">\n{items}\n      </Taxonomy>\n'
                   f'      <Header value="{say["h_runner"]}" size="6"/>\n'
                   f'      <Choices name="{RUNNER_UPS_NAME}" toName="image" Value="${RUNNER_UPS_NAME}" choice="single" '
                   'showInline="true"><View/></Choices>\n')
    rectangles = region_evidence = ""
    if regions:
        unnamed = {"ja": "語彙にない"}.get(language or "", DEFAULT_UNNAMED_REGION)
        grey = ' background="#9e9e9e"'  # the finding outside the vocabulary: set apart from the labels' colours
        items = "\n".join(
            [indent + "<Label" + tag(*choice)[len("<Choice"):] for choice in choices]
            + [indent + "<Label" + tag(unnamed, DEFAULT_UNNAMED_REGION if unnamed != DEFAULT_UNNAMED_REGION
                                       else None)[len("<Choice"):-2] + grey + "/>"])
        rectangles = (f'      <RectangleLabels name="{REGIONS_NAME}" toName="image" showInline="true">\n'
                      f"{items}\n      </RectangleLabels>\n")
        region_evidence = (f'      <Header value="{say["h_region"]}"/>\n'
                           f'      <TextArea name="{REGION_EVIDENCE_NAME}" toName="image" perRegion="true" '
                           f'editable="false" maxSubmissions="1" rows="2" placeholder="{say["p_region"]}"/>\n')
    return ('<View>\n'
            '  <View style="display: flex; gap: 16px; align-items: flex-start">\n'
            '    <View style="flex: 3; min-width: 0">\n'
            '      <Image name="image" value="$image" zoom="true"/>\n'
            f"{rectangles}"
            '    </View>\n'
            '    <View style="flex: 2; min-width: 320px">\n'
            f'      <Header value="{say["h_label"]}"/>\n'
            f"{control}"
            f'      <Header value="{say["h_why"]}"/>\n'
            f'      <TextArea name="{EVIDENCE_NAME}" toName="image" editable="false" maxSubmissions="1" rows="3" '
            f'placeholder="{say["p_evidence"]}"/>\n'
            f"{region_evidence}"
            '    </View>\n'
            '  </View>\n'
            '</View>\n')
