"""Reading a Label Studio labeling config: which <Choices> or <Taxonomy> over which <Image> gets our label.

Parsed with label-studio-sdk's LabelInterface; the taxonomy's nesting (which the SDK flattens) is read from
the XML, because a taxonomy prediction names the whole path to a label.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from prelabel.vocabulary.vocab import Vocabulary


@dataclass(frozen=True)
class Control:
    """Where a label goes in the labeling config: a <Choices> or <Taxonomy> named from_name over an <Image>
    named to_name whose value is $data_key. `results` maps a Choice value to what a result stores (its alias,
    if it has one); `paths` gives a taxonomy label's path of values."""

    from_name: str = "label"
    to_name: str = "image"
    data_key: str = "image"
    kind: str = "choices"  # or "taxonomy"
    results: dict[str, str] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)

    def value(self, label: str) -> dict:
        if self.kind == "taxonomy":
            return {"taxonomy": [self.paths.get(label, [label])]}
        return {"choices": [self.results.get(label, label)]}

    def label_of(self, value: dict) -> str | None:
        """The vocabulary label a result value names (the reverse of value())."""
        if self.kind == "taxonomy":
            paths = value.get("taxonomy") or []
            return paths[0][-1] if paths and paths[0] else None
        choices = value.get("choices") or []
        if not choices:
            return None
        back = {stored: label for label, stored in self.results.items()}
        return back.get(choices[0], choices[0])

    def to_dict(self) -> dict:
        return {"from_name": self.from_name, "to_name": self.to_name, "data_key": self.data_key, "kind": self.kind,
                "results": self.results, "paths": self.paths}

    @classmethod
    def from_dict(cls, data: dict) -> Control:
        return cls(**data)



class LabelConfigError(ValueError):
    """A config Prelabel cannot pre-label: no Choices/Taxonomy over an Image, or not XML at all."""


@dataclass(frozen=True)
class ConfigReport:
    control: Control
    labels: list[str]  # the label values the config offers
    missing_from_vocabulary: list[str] = field(default_factory=list)  # in the config, not in the vocabulary
    missing_from_config: list[str] = field(default_factory=list)  # in the vocabulary, not in the config

    def to_dict(self) -> dict:
        return {"from_name": self.control.from_name, "to_name": self.control.to_name, "type": self.control.kind,
                "labels": len(self.labels), "missing_from_vocabulary": self.missing_from_vocabulary,
                "missing_from_config": self.missing_from_config}


def read_label_config(config: str, vocabulary: Vocabulary) -> ConfigReport:
    """Find the first Choices or Taxonomy control over an Image; compare its labels with the vocabulary."""
    from label_studio_sdk.label_interface import LabelInterface

    if not config or not config.strip():
        raise LabelConfigError("the labeling config is empty")
    try:
        interface = LabelInterface(config)
        root = ElementTree.fromstring(config)
    except Exception as exc:  # the SDK raises a mix of XML and validation errors
        raise LabelConfigError(f"the labeling config cannot be parsed: {exc}") from None
    images = {obj.name: obj for obj in interface.objects if obj.tag == "Image"}
    for control in interface.controls:
        if control.tag not in ("Choices", "Taxonomy"):
            continue
        target = next((name for name in control.to_name if name in images), None)
        if target is None:
            continue
        value = images[target].value or ""
        if control.tag == "Choices":
            # A <Choice alias="..."> is stored under its alias: the prediction must use it too.
            stored = {tag.attr.get("value", label): label for label, tag in control.labels_attrs.items()}
            labels = list(stored)
            made = Control(control.name, target, value.lstrip("$"), "choices", results=stored)
        else:
            paths = _taxonomy_paths(root, control.name)
            labels = list(paths)
            made = Control(control.name, target, value.lstrip("$"), "taxonomy", paths=paths)
        known = set(vocabulary.label_values)
        return ConfigReport(made, labels, [label for label in labels if label not in known],
                            [label for label in vocabulary.label_values if label not in set(labels)])
    raise LabelConfigError("the labeling config has no <Choices> or <Taxonomy> whose toName is an <Image>: "
                           "Prelabel pre-labels image classification projects")


def _taxonomy_paths(root: ElementTree.Element, name: str) -> dict[str, list[str]]:
    """Each leaf and inner value of a <Taxonomy> with the path of values leading to it."""
    taxonomy = next(node for node in root.iter("Taxonomy") if node.get("name") == name)
    paths: dict[str, list[str]] = {}

    def walk(node: ElementTree.Element, trail: list[str]) -> None:
        for child in node.findall("Choice"):
            path = [*trail, child.get("alias") or child.get("value") or ""]
            paths.setdefault(child.get("value", ""), path)
            walk(child, path)

    walk(taxonomy, [])
    return paths


def make_label_config(vocabulary: Vocabulary) -> str:
    """A ready labeling config for a vocabulary: an image, one choice per label, and a box for notes."""
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")

    choices = "\n".join(f'    <Choice value="{escape(label)}"/>' for label in vocabulary.label_values)
    return ('<View>\n  <Image name="image" value="$image" zoom="true"/>\n'
            '  <Choices name="label" toName="image" choice="single" showInline="false">\n'
            f"{choices}\n  </Choices>\n</View>\n")
