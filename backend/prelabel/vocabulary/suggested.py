"""Names the MLLM suggests for each label (TLAC's first stage: the other names a class is known by), kept beside
the vocabulary in `<vocab>.suggested.yaml` for experts to accept or reject, like the class descriptions.

Each suggestion is pending, accepted, rejected or flagged. Flagged ones failed a check (screening: junk, a
sentence, a group word, an everyday word, another label's name, or a name two labels both received) and are
never used. Accepted ones are names of their label in the vocabulary in force (method "suggested"), so they
change its version. An expert decides with `prelabel vocab accept|reject`, or by editing `status` in the file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from prelabel.vocabulary import textnorm
from prelabel.vocabulary.vocab import Label, Name, Vocabulary, read_side_file

if TYPE_CHECKING:  # the normaliser is only needed to suggest: the vocabulary in force reads this file without it
    from prelabel.vocabulary.normalize import Normalizer

PENDING, ACCEPTED, REJECTED, FLAGGED = "pending", "accepted", "rejected", "flagged"
STATUSES = (PENDING, ACCEPTED, REJECTED, FLAGGED)
KINDS = ("common", "scientific", "alias")
_LANGUAGE = re.compile(r"^[a-z]{2}$")

HEADER = """\
# Names the MLLM suggested for each label, written by `prelabel vocab suggest`. Nothing here is used until an
# expert accepts it: `prelabel vocab accept NAME LABEL` (or set status: accepted), `prelabel vocab reject ...`.
# status: pending (to decide), accepted (a name of the label), rejected, flagged (failed a check, never used:
# see reason). Accepted names take effect at the services' next request or job, like the vocabulary file itself.
"""


class SuggestedError(ValueError):
    pass


class UnusableAnswer(Exception):
    """The MLLM's answer for one label could not be read (malformed, refused): nothing is kept for the label,
    which is asked again next time."""


@dataclass(frozen=True)
class Suggestion:
    label: str
    name: str
    kind: str = "common"  # the field the name belongs in: common, scientific or alias
    language: str | None = None  # for common names
    status: str = PENDING
    reason: str | None = None  # why it is flagged

    def as_name(self) -> Name:
        return Name(self.name, self.kind, self.language)


@dataclass
class SuggestReport:
    asked: list[str]  # labels the MLLM was asked about this run
    skipped: int  # labels that already had suggestions
    kept: int
    flagged: list[Suggestion]
    already_named: int  # suggestions that are names the label already has
    unusable: list[tuple[str, str]] = field(default_factory=list)  # (label, why) of answers that could not be read


def suggested_path(vocab_path: str | Path) -> Path:
    path = Path(vocab_path)
    return path.with_name(path.stem + ".suggested.yaml")


def load_suggestions(path: str | Path) -> list[Suggestion]:
    """Every suggestion in the file; a missing file is an empty one."""
    path = Path(path)
    data = read_side_file(path, SuggestedError)
    items = data.get("suggested", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SuggestedError(f"{path}: expected 'suggested:' with a list of suggestions")
    found = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("label"), str) or not isinstance(
                item.get("name"), str) or item.get("status", PENDING) not in STATUSES or item.get(
                "kind", "common") not in KINDS:
            raise SuggestedError(f"{path}: suggestion {number}: expected label, name, kind ({', '.join(KINDS)}) "
                                 f"and status ({', '.join(STATUSES)}), got {item!r}")
        found.append(Suggestion(item["label"], item["name"].strip(), item.get("kind", "common"),
                                item.get("language"), item.get("status", PENDING), item.get("reason")))
    return found


def save_suggestions(path: str | Path, suggestions: list[Suggestion]) -> None:
    """Written to a temporary file and renamed, so an interrupted run never leaves half a file."""
    path = Path(path)
    items = [{key: value for key, value in asdict(s).items() if value is not None} for s in suggestions]
    body = yaml.safe_dump({"suggested": items}, allow_unicode=True, sort_keys=False, width=110)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(HEADER + body, encoding="utf-8")
    temporary.replace(path)


def accepted_names(suggestions: list[Suggestion], vocabulary: Vocabulary) -> list[tuple[str, Name]]:
    """(label, name) of the accepted suggestions whose label is in the vocabulary (vocab.with_suggested)."""
    labels = set(vocabulary.label_values)
    return [(s.label, s.as_name()) for s in suggestions if s.status == ACCEPTED and s.label in labels]


def find(suggestions: list[Suggestion], name: str, label: str) -> Suggestion | None:
    key = textnorm.name_key(name)
    return next((s for s in suggestions if s.label == label and textnorm.name_key(s.name) == key), None)


def decide(path: str | Path, name: str, label: str, accept: bool, force: bool = False) -> Suggestion | None:
    """An expert's decision on a suggestion in the file; None when there is no such suggestion. A flagged one
    cannot be accepted unless forced: SuggestedError says why it was flagged."""
    suggestions = load_suggestions(path)
    found = find(suggestions, name, label)
    if found is None:
        return None
    if accept and found.status == FLAGGED and not force:
        raise SuggestedError(f"{found.name!r} -> {label} is flagged ({found.reason}) and is never used; if you are "
                             f"sure, add it to the vocabulary file yourself")
    decided = replace(found, status=ACCEPTED if accept else REJECTED, reason=None)
    save_suggestions(path, [decided if s is found else s for s in suggestions])
    return decided


def suggest_vocabulary(vocabulary: Vocabulary, path: str | Path, ask: Callable[[Label], list[Suggestion]],
                       normalizer: Normalizer, labels: list[str] | None = None, force: bool = False,
                       progress: Callable[[str, list[Suggestion]], None] | None = None) -> SuggestReport:
    """Ask for what is missing (everything asked for, with force), check each name, save after each label (an
    interruption loses nothing already paid for). Decisions already taken on a name are kept."""
    from prelabel.vocabulary.normalize import ALIAS, EXACT, LEARNED, RULE, SUGGESTED
    from prelabel.vocabulary.screening import check_name

    read_as_is = (EXACT, ALIAS, SUGGESTED, LEARNED, RULE)
    suggestions = load_suggestions(path)
    report = SuggestReport([], 0, 0, [], 0)
    for entry in vocabulary:
        if labels is not None and entry.label not in labels:
            continue
        if not force and any(s.label == entry.label for s in suggestions):
            report.skipped += 1
            continue
        listed = {textnorm.name_key(name.text) for name in entry.names()}
        decided = {textnorm.name_key(s.name): s for s in suggestions
                   if s.label == entry.label and s.status in (ACCEPTED, REJECTED)}
        fresh: list[Suggestion] = []
        try:
            answer = ask(entry)
        except UnusableAnswer as exc:
            report.unusable.append((entry.label, str(exc)))
            continue
        for suggestion in answer:
            key = textnorm.name_key(suggestion.name)
            said = normalizer.normalize(suggestion.name)
            if key in listed or (said.label == entry.label and said.method in read_as_is):
                report.already_named += 1  # a name it has, or a writing of one the normaliser reads (さび: 錆)
                continue
            if key in decided or any(textnorm.name_key(s.name) == key for s in fresh):
                continue
            flag = check_name(suggestion.name, entry.label, normalizer)
            fresh.append(replace(suggestion, label=entry.label, status=FLAGGED if flag else PENDING,
                                 reason=str(flag) if flag else None))
        suggestions = ([s for s in suggestions if s.label != entry.label] + list(decided.values()) + fresh)
        suggestions = _flag_shared(suggestions)
        save_suggestions(path, suggestions)
        report.asked.append(entry.label)
        if progress:
            progress(entry.label, [s for s in suggestions if s.label == entry.label])
    kept = [s for s in suggestions if s.label in report.asked and s.status == PENDING]
    report.kept = len(kept)
    report.flagged = [s for s in suggestions if s.label in report.asked and s.status == FLAGGED]
    return report


def _flag_shared(suggestions: list[Suggestion]) -> list[Suggestion]:
    """A name two labels both received means neither for sure: both are flagged (and never used)."""
    owners: dict[str, set[str]] = defaultdict(set)
    for s in suggestions:
        if s.status != REJECTED:
            owners[textnorm.name_key(s.name)].add(s.label)
    found = []
    for s in suggestions:
        others = sorted(owners[textnorm.name_key(s.name)] - {s.label})
        if others and s.status == PENDING:
            s = replace(s, status=FLAGGED, reason=f"two labels received it: {s.label}, {', '.join(others)}")
        found.append(s)
    return found


def parse_language(value: object, name: str, languages: list[str]) -> str | None:
    """A suggestion's language: the one given if it is a two-letter code, else read off the script."""
    if isinstance(value, str) and _LANGUAGE.match(value.strip().lower()):
        return value.strip().lower()
    if any(not char.isascii() for char in name) and "ja" in languages:
        return "ja"
    return "en" if "en" in languages else (languages[0] if languages else None)
