"""The domain vocabulary: one YAML file per domain, edited by domain experts.

Loading is all-or-nothing: every problem in a file is collected (with file, line and field) and raised
together as one VocabError, so an expert fixes a file in one pass and nothing is ever half-loaded.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from prelabel import text as strings
from prelabel.vocabulary import textnorm

# Faster C parser when PyYAML was built with libyaml; the composed nodes carry line marks either way.
if TYPE_CHECKING:
    _BASE_LOADER = yaml.SafeLoader
else:
    _BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YAML_LOADER(_BASE_LOADER):
    """Skips PyYAML's resolver for plain scalars whose first character no implicit type starts with (most
    names): the same tags, a third of a 10,000-label file's loading time saved."""

    _triggers = frozenset(_BASE_LOADER.yaml_implicit_resolvers)

    def resolve(self, kind: type[yaml.Node], value: str | None, implicit: tuple[bool, bool] | bool) -> str:
        # A scalar's `implicit` is (plain, quoted); a sequence's or mapping's a bool, with value None.
        if (kind is yaml.ScalarNode and isinstance(implicit, tuple) and implicit[0] and value
                and value[0] not in self._triggers):
            return "tag:yaml.org,2002:str"
        # types-PyYAML leaves BaseResolver.resolve unannotated; it returns the tag, a str.
        tag: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag

LABEL_FIELDS = {
    "label": "string",
    "scientific": "list",
    "common": "mapping",
    "aliases": "list",
    "parent": "string",
    "description": "string",
}
TOP_FIELDS = {"domain": "string", "labels": "sequence"}
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class VocabError(ValueError):
    """A vocabulary file that cannot be used; `problems` lists every one, each naming file, line, field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"vocabulary {path} is not valid ({len(problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class Name:
    """One string that means a label, with where it came from (kind: label, scientific, common, alias)."""

    text: str
    kind: str
    language: str | None = None


@dataclass(frozen=True)
class Label:
    label: str
    scientific: tuple[str, ...] = ()
    common: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    parent: str | None = None
    description: str | None = None
    line: int = 0
    learned: tuple[str, ...] = ()  # reviewer-confirmed synonyms (prelabel.learning), not written by experts
    # Names the MLLM suggested and an expert accepted (prelabel.vocabulary.suggested); `kind` is the field they
    # belong in (common, scientific, alias), for export.
    suggested: tuple[Name, ...] = ()

    def names(self) -> Iterator[Name]:
        """Every string that names this label, the label value itself first."""
        yield Name(self.label, "label")
        for text in self.scientific:
            yield Name(text, "scientific")
        for language, texts in self.common.items():
            for text in texts:
                yield Name(text, "common", language)
        for text in self.aliases:
            yield Name(text, "alias")
        for name in self.suggested:
            yield Name(name.text, "suggested", name.language)
        for text in self.learned:
            yield Name(text, "learned")

    def english_names(self) -> tuple[str, ...]:
        return self.common.get("en", ())


@dataclass(frozen=True)
class Vocabulary:
    domain: str
    labels: tuple[Label, ...]
    source: str = "<memory>"
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(self, "version", _version_of(self.domain, self.labels))

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[Label]:
        return iter(self.labels)

    @property
    def label_values(self) -> list[str]:
        return [entry.label for entry in self.labels]

    def get(self, label: str) -> Label | None:
        return self._by_label.get(label)

    @property
    def _by_label(self) -> dict[str, Label]:
        cached = self.__dict__.get("_by_label_cache")
        if cached is None:
            cached = {entry.label: entry for entry in self.labels}
            object.__setattr__(self, "_by_label_cache", cached)
        return cached


def with_learned(vocabulary: Vocabulary, synonyms: list[tuple[str, str]]) -> Vocabulary:
    """The vocabulary as predictions use it: the expert's file plus (string, label) synonyms learned from
    reviewers. Its version changes whenever the learned set changes."""
    if not synonyms:
        return vocabulary
    learned: dict[str, list[str]] = {}
    for text, label in synonyms:
        learned.setdefault(label, []).append(text)
    labels = tuple(replace(entry, learned=tuple(sorted(learned.get(entry.label, ())))) for entry in vocabulary)
    return Vocabulary(vocabulary.domain, labels, vocabulary.source)


def with_suggested(vocabulary: Vocabulary, accepted: list[tuple[str, Name]]) -> Vocabulary:
    """The expert's file plus the suggested names they accepted, as (label, name) with the name's field as its
    kind. Its version changes whenever an accepted name changes."""
    if not accepted:
        return vocabulary
    by_label: dict[str, list[Name]] = {}
    for label, name in accepted:
        by_label.setdefault(label, []).append(name)
    labels = tuple(replace(entry, suggested=tuple(by_label.get(entry.label, ()))) for entry in vocabulary)
    return Vocabulary(vocabulary.domain, labels, vocabulary.source)


def dump_vocabulary(vocabulary: Vocabulary) -> str:
    """The vocabulary as YAML in the documented schema: accepted suggested names in their fields, learned
    synonyms as aliases. What it writes always loads back: a learned synonym that would break the file (one
    another label's names already claim, control characters or line separators that YAML does not keep, longer
    than a name can be) is left out and listed in the header; anything else that would not load raises
    VocabError rather than being written."""
    left_out = _unwritable_learned(vocabulary)
    entries = []
    for entry in vocabulary:
        item: dict[str, str | list[str] | dict[str, list[str]]] = {"label": entry.label}
        suggested = {kind: [n.text for n in entry.suggested if n.kind == kind] for kind in ("scientific", "alias")}
        if entry.scientific or suggested["scientific"]:
            item["scientific"] = list(dict.fromkeys([*entry.scientific, *suggested["scientific"]]))
        common = {language: list(names) for language, names in entry.common.items()}
        for name in entry.suggested:
            if name.kind == "common" and name.language:
                common.setdefault(name.language, [])
                common[name.language] = list(dict.fromkeys([*common[name.language], name.text]))
        if common:
            item["common"] = common
        learned = [name for name in entry.learned if name not in left_out.get(entry.label, ())]
        if entry.aliases or learned or suggested["alias"]:
            item["aliases"] = list(dict.fromkeys([*entry.aliases, *suggested["alias"], *learned]))
        if entry.parent:
            item["parent"] = entry.parent
        if entry.description:
            item["description"] = entry.description
        entries.append(item)
    header = (f"# {vocabulary.domain}: exported by `prelabel vocab export` (version {vocabulary.version}),\n"
              "# the expert's dictionary with the suggested names they accepted in their fields and the synonyms\n"
              "# learned from reviewers as aliases.\n")
    for label, synonyms in left_out.items():
        for synonym, why in synonyms.items():
            header += f"# left out: learned synonym {strings.quote(synonym, 80)} of {label!r}: {why}\n"
    written = header + yaml.safe_dump({"domain": vocabulary.domain, "labels": entries}, allow_unicode=True,
                                      sort_keys=False, width=110)
    parse_vocabulary(written, source="the exported vocabulary")  # raises VocabError, listing every problem
    return written


def _unwritable_learned(vocabulary: Vocabulary) -> dict[str, dict[str, str]]:
    """label -> {learned synonym: why it cannot be written}."""
    claimed: dict[str, str] = {}
    for entry in vocabulary:
        for name in entry.names():
            if name.text not in entry.learned:
                claimed.setdefault(textnorm.name_key(name.text), entry.label)
    found: dict[str, dict[str, str]] = {}
    for entry in vocabulary:
        for synonym in entry.learned:
            owner = claimed.setdefault(textnorm.name_key(synonym), entry.label)
            if owner != entry.label:
                found.setdefault(entry.label, {})[synonym] = f"already a name of {owner!r}"
            elif strings.clean(synonym, strings.NAME) != " ".join(synonym.split()) or _unsafe(synonym):
                found.setdefault(entry.label, {})[synonym] = "control characters, line separators or too long"
    return found


def _unsafe(name: str) -> bool:
    """Characters a YAML round trip does not keep, or that no name holds."""
    return any(c in "\x85\u2028\u2029" or unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name)


def _version_of(domain: str, labels: tuple[Label, ...]) -> str:
    """A short content hash: it changes whenever any name or label changes, never otherwise."""
    digest = hashlib.sha256(domain.encode())
    for entry in labels:
        for name in entry.names():
            digest.update(f"\x1f{entry.label}\x1e{name.kind}\x1e{name.language}\x1e{name.text}".encode())
        digest.update(f"\x1d{entry.parent}\x1d{entry.description}".encode())
    return digest.hexdigest()[:12]


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read and validate one vocabulary YAML file; raise VocabError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VocabError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabError(str(path), [f"cannot read file: {exc}"]) from None
    return parse_vocabulary(text, source=str(path))


def parse_vocabulary(text: str, source: str = "<string>") -> Vocabulary:
    """Validate YAML text as a vocabulary; every problem is reported as 'source:line: field: message'."""
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise VocabError(source, [malformed_yaml(exc, source)]) from None
    checker = _Checker(source)
    vocabulary = checker.vocabulary(root)
    if checker.problems:
        raise VocabError(source, checker.problems)
    assert vocabulary is not None
    return vocabulary


def malformed_yaml(exc: yaml.YAMLError, source: str) -> str:
    """'source:line:column: malformed YAML: problem', with both of PyYAML's marks, the same for every YAML file an
    expert edits. PyYAML finds an unclosed bracket or quote only where the next thing cannot belong to it (the
    next line, or the end of the file): then the line that opened it leads, as the place to fix."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = str(getattr(exc, "context", None) or "")
    found, opened = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    unclosed = opened is not None and any(kind in context for kind in ("flow", "quoted"))
    lead = opened if unclosed or found is None else found
    where = f"{source}:{_at(lead, ':')}" if lead is not None else source
    text = f"{where}: malformed YAML: {problem}"
    if unclosed and found is not None:
        thing = context.removeprefix("while parsing ").removeprefix("while scanning ")
        return f"{text} at line {_at(found)}: {thing} opened here is not closed"
    if context and opened is not None:
        return f"{text} ({context} from line {_at(opened)})"
    return text


def _at(mark: yaml.Mark, separator: str = ", column ") -> str:
    return f"{mark.line + 1}{separator}{mark.column + 1}"


def read_side_file(path: Path, error: Callable[[str], Exception]) -> object:
    """A file kept beside a vocabulary (class descriptions, suggested names): its YAML data, {} when there is no
    such file yet; malformed YAML raises `error` with the file and line."""
    if not path.exists():
        return {}
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise error(malformed_yaml(exc, str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read file: {exc}") from None


class _Checker:
    """Walks the composed YAML nodes so every message can carry the line it is about."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def problem(self, node: yaml.Node | None, where: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.problems.append(f"{self.source}{line}: {where}: {message}")

    def vocabulary(self, root: yaml.Node | None) -> Vocabulary | None:
        if not isinstance(root, yaml.MappingNode):
            self.problem(root, "top level", "expected a mapping with 'domain' and 'labels'")
            return None
        fields = self.mapping(root, "top level", TOP_FIELDS)
        domain = self.string(fields.get("domain"), "domain") if "domain" in fields else None
        if "domain" not in fields:
            self.problem(root, "domain", "missing")
        labels_node = fields.get("labels")
        if labels_node is None:
            self.problem(root, "labels", "missing")
            return None
        if not isinstance(labels_node, yaml.SequenceNode):
            self.problem(labels_node, "labels", "expected a list of labels")
            return None
        if not labels_node.value:
            self.problem(labels_node, "labels", "empty: a vocabulary needs at least one label")
        labels = [self.label(node, f"labels[{index}]") for index, node in enumerate(labels_node.value)]
        found = [entry for entry in labels if entry is not None]
        self.check_unique_labels(found)
        self.check_name_conflicts(found)
        return Vocabulary(domain=domain or "", labels=tuple(found), source=self.source)

    def mapping(self, node: yaml.MappingNode, where: str, allowed: dict[str, str]) -> dict[str, yaml.Node]:
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in allowed:
                known = ", ".join(allowed)
                self.problem(key_node, f"{where}.{key}", f"unknown field (known fields: {known})")
            elif key in fields:
                self.problem(key_node, f"{where}.{key}", "field given twice")
            else:
                fields[key] = value_node
        return fields

    def string(self, node: yaml.Node | None, where: str, index: int | None = None) -> str | None:
        """The stripped text of a scalar; a problem otherwise. `index` names the item of a list (the message is
        only formatted when there is a problem: a 10,000-label file has 100,000 names)."""
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            value: str = node.value.strip()  # a str tag's value is a str (types-PyYAML leaves it untyped)
            if value:
                return value
        where = where if index is None else f"{where}[{index}]"
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            self.problem(node, where, "empty name")
        elif isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
            # A number or boolean where a name belongs is almost always a typing slip: say how to fix it.
            self.problem(node, where, f"expected text, got {node.value!r} (quote it)")
        else:
            self.problem(node, where, "expected a non-empty string")
        return None

    def strings(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            # A single name written without brackets is what an expert means; accept it as a list of one.
            value = self.string(node, where)
            return (value,) if value else ()
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, where, "expected a list of names")
            return ()
        if not node.value:
            self.problem(node, where, "empty list (leave the field out instead)")
        values = [self.string(item, where, index) for index, item in enumerate(node.value)]
        return tuple(value for value in values if value)

    def label(self, node: yaml.Node, where: str) -> Label | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, where, "expected a mapping with at least 'label'")
            return None
        named = next((value.value for key, value in node.value if getattr(key, "value", None) == "label"
                      and isinstance(value, yaml.ScalarNode) and value.tag.endswith(":str")), None)
        fields = self.mapping(node, f"{where} ({named})" if named else where, LABEL_FIELDS)
        if "label" not in fields:
            self.problem(node, f"{where}.label", "missing")
            return None
        label = self.string(fields["label"], f"{where}.label")
        if label is None:
            return None
        where = f"{where} ({label})"
        common: dict[str, tuple[str, ...]] = {}
        if "common" in fields:
            common_node = fields["common"]
            if not isinstance(common_node, yaml.MappingNode):
                self.problem(common_node, f"{where}.common", "expected a mapping of language code to names")
            else:
                for key_node, value_node in common_node.value:
                    language = str(key_node.value)
                    if not _LANGUAGE.match(language):
                        self.problem(key_node, f"{where}.common.{language}",
                                     "expected a two-letter ISO 639-1 language code such as en or ja")
                        continue
                    if language in common:
                        self.problem(key_node, f"{where}.common.{language}", "language given twice")
                        continue
                    common[language] = self.strings(value_node, f"{where}.common.{language}")
        optional = {key: self.string(fields[key], f"{where}.{key}") for key in ("parent", "description")
                    if key in fields}
        return Label(
            label=label,
            scientific=self.strings(fields["scientific"], f"{where}.scientific") if "scientific" in fields else (),
            common=common,
            aliases=self.strings(fields["aliases"], f"{where}.aliases") if "aliases" in fields else (),
            parent=optional.get("parent"),
            description=optional.get("description"),
            line=node.start_mark.line + 1,
        )

    def check_unique_labels(self, labels: list[Label]) -> None:
        first_line: dict[str, int] = {}
        for entry in labels:
            if entry.label in first_line:
                self.problems.append(f"{self.source}:{entry.line}: label {entry.label!r}: duplicate label "
                                     f"(first defined at line {first_line[entry.label]})")
            else:
                first_line[entry.label] = entry.line

    def check_name_conflicts(self, labels: list[Label]) -> None:
        """A name that two labels claim makes every answer with it ambiguous: report each such name."""
        owners: dict[str, dict[str, tuple[str, int]]] = {}
        for entry in labels:
            for name in entry.names():
                key = textnorm.name_key(name.text)
                if key:
                    owners.setdefault(key, {}).setdefault(entry.label, (name.text, entry.line))
        for claims in owners.values():
            if len(claims) > 1:
                listed = "; ".join(f"{text!r} in label {label!r} (line {line})"
                                   for label, (text, line) in claims.items())
                first_line = min(line for _, line in claims.values())
                self.problems.append(f"{self.source}:{first_line}: name conflict: one name claimed by "
                                     f"{len(claims)} labels: {listed}")
