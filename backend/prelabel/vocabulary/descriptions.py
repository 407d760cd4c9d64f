"""Class descriptions: five short texts per label, written by the MLLM once and kept in a sibling file of the
vocabulary (`<vocab>.descriptions.yaml`) where experts read and edit them. CLIP's class features use them.

Each text is checked before it is written (prelabel.vocabulary.screening): a flagged one is reported, never
written. What is in the file is never regenerated unless asked (`prelabel vocab describe --force`, which also
asks the MLLM again past its cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from prelabel.vocabulary.vocab import Label, Vocabulary, read_side_file

HEADER = """\
# Class descriptions for CLIP's class features, five per label, written by `prelabel vocab describe`.
# Edit freely: a label listed here is not regenerated unless you run `prelabel vocab describe --force`.
"""


class DescriptionsError(ValueError):
    pass


def descriptions_path(vocab_path: str | Path) -> Path:
    path = Path(vocab_path)
    return path.with_name(path.stem + ".descriptions.yaml")


def load_descriptions(path: str | Path) -> dict[str, list[str]]:
    """Label -> descriptions; a missing file is an empty one."""
    path = Path(path)
    data = read_side_file(path, DescriptionsError)
    table = data.get("descriptions", {}) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not all(
            isinstance(texts, list) and all(isinstance(t, str) for t in texts) for texts in table.values()):
        raise DescriptionsError(f"{path}: expected 'descriptions:' mapping each label to a list of texts")
    return {str(label): [t.strip() for t in texts if t.strip()] for label, texts in table.items()}


def save_descriptions(path: str | Path, descriptions: dict[str, list[str]]) -> None:
    """Written to a temporary file and renamed, so an interrupted run never leaves half a file."""
    path = Path(path)
    body = yaml.safe_dump({"descriptions": descriptions}, allow_unicode=True, sort_keys=False, width=110)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(HEADER + body, encoding="utf-8")
    temporary.replace(path)


def class_name(entry: Label) -> str:
    """How a class is named in prompts: the label with its first English name, if that says something more."""
    english = entry.english_names()
    return f"{entry.label} ({english[0]})" if english and english[0].lower() != entry.label.lower() else entry.label


def class_texts(vocabulary: Vocabulary, descriptions: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every description of every label: the expert's `description` field first, then the generated ones."""
    return {entry.label: ([entry.description] if entry.description else []) + descriptions.get(entry.label, [])
            for entry in vocabulary}


def class_texts_for(vocabulary: Vocabulary) -> dict[str, list[str]]:
    """The expert's descriptions and the generated ones kept beside the vocabulary file."""
    return class_texts(vocabulary, load_descriptions(descriptions_path(vocabulary.source)))


@dataclass
class DescribeReport:
    described: list[str] = field(default_factory=list)  # labels written this run
    skipped: int = 0  # labels already in the file
    kept: int = 0
    flagged: list[tuple[str, str, object]] = field(default_factory=list)  # (label, text, what is wrong with it)
    empty: list[str] = field(default_factory=list)  # labels every description of which was flagged


def describe_vocabulary(vocabulary: Vocabulary, path: str | Path,
                        describe: Callable[[Label], list[tuple[str, object | None]]], force: bool = False,
                        progress: Callable[[str, int, int], None] | None = None) -> DescribeReport:
    """Generate what is missing (everything, with force) and save after each label, so an interruption loses
    nothing already paid for. `describe` gives each text with what a check found wrong with it (None: keep);
    flagged texts are reported and never written. A label all of whose texts are flagged is left out, to be
    asked again."""
    descriptions = load_descriptions(path)
    report = DescribeReport()
    for entry in vocabulary:
        if descriptions.get(entry.label) and not force:
            report.skipped += 1
            continue
        answers = describe(entry)
        kept = [text for text, flag in answers if flag is None]
        report.flagged.extend((entry.label, text, flag) for text, flag in answers if flag is not None)
        report.kept += len(kept)
        if kept:
            descriptions[entry.label] = kept
            save_descriptions(path, descriptions)
            report.described.append(entry.label)
        else:
            report.empty.append(entry.label)
        if progress:
            progress(entry.label, len(kept), len(answers) - len(kept))
    return report
