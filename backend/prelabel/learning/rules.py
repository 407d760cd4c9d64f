"""Learning from reviewers: the words the MLLM used for an image become synonyms of the label the reviewer chose,
under rules a domain expert controls.

- Evidence: for each current annotation, every raw MLLM string of its task that did not normalise to the chosen
  label becomes "string -> label"; one that did is a confirmation. Cancelled annotations, annotations without a
  classification and labels outside the vocabulary ("new class?") are recorded as such, never as synonyms; so
  is a reviewer's "none of these" (the prediction was wrong, or nothing fits): a verdict of its own.
- A synonym is pending until promoted: automatically after K agreeing annotations from at least two distinct
  reviewers with no conflicting evidence, or by an expert (accept). A reviewer counts only where Label Studio
  vouches for who wrote the annotation (learning/feedback.py): evidence from an annotation whose author is
  unknown (reviewer NULL) is recorded, and the string waits for the expert. With automatic promotion off
  (PRELABEL_AUTO_PROMOTE=false) only the expert puts a synonym in force. A string pointing at two labels, or at
  another label than the vocabulary gives it, is a conflict: never promoted automatically.
- Strings too generic to be names (common words, very short strings, long sentences, a group name such as
  "weevil" or "Sitophilus sp." that fits several labels) are never learned; nothing the screening of suggested
  names refuses (vocabulary/screening.py: none words, strings naming several labels...) is promoted or shown to
  the expert as vocabulary work. A string the vocabulary already gives another label is the MLLM's mistake (a
  model error), shown apart from the names the vocabulary lacks.
- Every change to the synonyms in force is logged (what, when, from which tasks or command).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace

from prelabel import text
from prelabel.learning.review import Conflict, NewClass, ReviewEntry, Support, SynonymReview, TaskRef
from prelabel.learning.rows import Change
from prelabel.learning.store import LearnedStore, Run
from prelabel.pipeline.result import NamedMatch
from prelabel.vocabulary import textnorm
from prelabel.vocabulary.normalize import ALIAS, EXACT, Normalizer
from prelabel.vocabulary.screening import Flag, check_name

MIN_CHARACTERS = 4
MIN_KANA = 3  # three kana already make a name (ハダニ); three letters rarely do
MAX_WORDS = 6  # an MLLM sentence is not a name
MAX_CHARACTERS = 80  # nor is a 5,000-character "word": the longest real names are far shorter
GENERIC_WORDS = frozenset({
    "insect", "bug", "pest", "beetle", "moth", "fly", "larva", "caterpillar", "worm", "mite", "spider", "animal",
    "organism", "creature", "disease", "fungus", "mold", "damage", "unknown", "none", "nothing", "object", "thing",
    "specimen", "sample", "leaf", "plant", "fruit", "seed", "grain", "image", "photo", "picture",
})
NAMES_ANOTHER = "names another label"  # the screening's flag for a string that is the MLLM's mistake


def key_of(string: str) -> str:
    return textnorm.name_key(string)


def learnable(string: str, normalizer: Normalizer) -> bool:
    """Could this string be a name? Not if it is short, common, a sentence, or a group name."""
    words = [token.text for token in textnorm.tokens(string)]
    meaningful = [w for w in words if w not in textnorm.COMMON_WORDS and w not in GENERIC_WORDS and w != "sp"]
    key = key_of(string)
    if len(key) < (MIN_CHARACTERS if key.isascii() else MIN_KANA) or not meaningful or len(words) > MAX_WORDS:
        return False
    if len(string) > MAX_CHARACTERS:
        return False
    return not normalizer.is_group_name(string)


@dataclass(frozen=True)
class Verdict:
    """What one annotation says: its rows of evidence."""

    kind: str  # synonym, confirmation, new_class, nothing_fits, cancelled, no_classification, no_evidence
    string: str | None = None
    label: str | None = None


def verdicts(label: str | None, cancelled: bool, in_vocabulary: bool, candidates: list[NamedMatch],
             normalizer: Normalizer, nothing_fits: bool = False) -> list[Verdict]:
    """Compare the annotated label with the prediction evidence (each candidate: text, label, method).
    `nothing_fits`: the reviewer chose the config's "none of these": one verdict, no string learned."""
    if cancelled:
        return [Verdict("cancelled")]
    if nothing_fits:
        return [Verdict("nothing_fits")]
    if label is None:
        return [Verdict("no_classification")]
    if not candidates:
        return [Verdict("no_evidence", label=label)]
    if not in_vocabulary:
        return [Verdict("new_class", c.text, label) for c in candidates] or [Verdict("new_class", label=label)]
    found, seen = [], set()
    for candidate in candidates:
        if key_of(candidate.text) in seen:
            continue  # the classification is often among the candidates too: one string, one verdict
        seen.add(key_of(candidate.text))
        if candidate.label == label:
            found.append(Verdict("confirmation", candidate.text, label))
        elif learnable(candidate.text, normalizer):
            found.append(Verdict("synonym", candidate.text, label))
    return found


class Learning:
    """The rules above over a LearnedStore. `normalizer` is built on the expert's vocabulary alone."""

    def __init__(self, store: LearnedStore, normalizer: Normalizer, min_agreements: int = 3,
                 automatic: bool = True):
        self.store = store
        self.normalizer = normalizer
        self.min_agreements = min_agreements
        self.automatic = automatic  # PRELABEL_AUTO_PROMOTE

    # ---- evidence from annotations -----------------------------------------------------------------------

    def record(self, annotation_id: int, task_id: int, project_id: int | None, reviewer: int | None,
               found: list[Verdict]) -> list[str]:
        """Replace what this annotation contributes (an update replaces, never adds). Returns changes made.
        `reviewer`: the author Label Studio vouches for, None when it cannot say (then no automatic promotion
        leans on this annotation)."""
        now = time.time()
        with self.store.transaction(exclusive=True) as run:
            keys = self._drop(run, annotation_id)
            seen = set()
            for verdict in found:
                key = key_of(verdict.string) if verdict.string else None
                if (verdict.kind, key, verdict.label) in seen:
                    continue  # the same string twice in one answer is one piece of evidence
                seen.add((verdict.kind, key, verdict.label))
                run("INSERT INTO annotation_evidence (annotation_id, task_id, project_id, reviewer, kind, string, "
                    "key, label, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (annotation_id, task_id, project_id, reviewer, verdict.kind, verdict.string, key,
                     verdict.label, now))
                if key:
                    keys.add(key)
            return self._settle(run, keys, f"task {task_id}")

    def retract(self, annotation_id: int) -> list[str]:
        """An annotation was deleted: what it contributed goes, and what depended on it is settled again."""
        with self.store.transaction(exclusive=True) as run:
            tasks = run("SELECT task_id FROM annotation_evidence WHERE annotation_id = ? LIMIT 1", (annotation_id,))
            source = f"task {tasks[0][0]}: annotation deleted" if tasks else "annotation deleted"
            return self._settle(run, self._drop(run, annotation_id), source)

    def settle_all(self) -> list[str]:
        """Apply the rule to every string again (after the rule itself changed)."""
        with self.store.transaction(exclusive=True) as run:
            keys = {key for (key,) in run("SELECT DISTINCT key FROM annotation_evidence WHERE key IS NOT NULL "
                                          "UNION SELECT key FROM synonyms")}
            return self._settle(run, keys, "settled again")

    @staticmethod
    def _drop(run: Run, annotation_id: int) -> set[str]:
        keys = {key for (key,) in run("SELECT DISTINCT key FROM annotation_evidence WHERE annotation_id = ? "
                                      "AND key IS NOT NULL", (annotation_id,))}
        run("DELETE FROM annotation_evidence WHERE annotation_id = ?", (annotation_id,))
        return keys

    # ---- promotion ---------------------------------------------------------------------------------------

    def _settle(self, run: Run, keys: set[str], source: str) -> list[str]:
        """Promote what now meets the rule, demote automatic promotions that no longer do."""
        changes = []
        for key in sorted(keys):
            support = self._support(run, key)
            decided: dict[str, str] = dict(run("SELECT label, status FROM synonyms WHERE key = ?", (key,)))
            conflict = len(support) > 1
            for label in set(support) | set(decided):
                count, reviewers, string, tasks = support.get(label, (0, set(), None, []))
                status = decided.get(label)
                if status in ("accepted", "rejected"):
                    continue  # an expert decided: the rule does not overrule them
                ok = (self.automatic and count >= self.min_agreements and None not in reviewers
                      and len(reviewers) >= 2 and not conflict and self.screen(string, label) is None)
                if ok and status is None:
                    run("INSERT INTO synonyms (key, string, label, status, decided_by, decided) "
                        "VALUES (?, ?, ?, 'promoted', 'reviewers', ?) ON CONFLICT (key, label) DO NOTHING",
                        (key, string, label, time.time()))
                    changes.append(self._log(run, "promoted", string, label,
                                             f"{source}; agreeing tasks {sorted(set(tasks))}"))
                elif not ok and status == "promoted":
                    string = string or run("SELECT string FROM synonyms WHERE key = ? AND label = ?",
                                           (key, label))[0][0]
                    run("DELETE FROM synonyms WHERE key = ? AND label = ?", (key, label))
                    changes.append(self._log(run, "demoted", string, label, f"{source}; the rule no longer holds"))
        return changes

    @staticmethod
    def _support(run: Run, key: str) -> dict[str, tuple[int, set[int | None], str, list[int]]]:
        """label -> (agreeing annotations, reviewers, the string as first written, their task ids)."""
        found: dict[str, tuple[int, set[int | None], str, list[int]]] = {}
        for label, reviewer, string, task in run(
                "SELECT label, reviewer, string, task_id FROM annotation_evidence "
                "WHERE key = ? AND kind = 'synonym' ORDER BY created, annotation_id", (key,)):
            count, reviewers, first, tasks = found.get(label, (0, set(), string, []))
            found[label] = (count + 1, reviewers | {reviewer}, first, [*tasks, task])
        return found

    def screen(self, string: str | None, label: str) -> Flag | None:
        """Why `string` cannot be a name of `label`, by the checks suggested names pass; None when it can."""
        return check_name(string, label, self.normalizer) if string else None

    @staticmethod
    def _log(run: Run, what: str, string: str | None, label: str | None, source: str) -> str:
        run("INSERT INTO changes (at, what, string, label, source) VALUES (?, ?, ?, ?, ?)",
            (time.time(), what, string, label, source))
        return f"{what}: {string!r} -> {label}"

    # ---- experts -----------------------------------------------------------------------------------------

    def decide(self, string: str, label: str, accept: bool, by: str) -> str:
        """An expert's accept or reject; an accepted string leaves any other label it was in force for."""
        if label not in self.normalizer.vocabulary.label_values:
            raise ValueError(f"{label!r} is not a label of the vocabulary")
        key = key_of(string)
        if not key:
            raise ValueError(f"{string!r} holds no name")
        if accept:
            self._check_acceptable(string, label)
        status = "accepted" if accept else "rejected"
        with self.store.transaction(exclusive=True) as run:
            if accept:
                for (other,) in run("SELECT label FROM synonyms WHERE key = ? AND label <> ? AND status IN "
                                    "('promoted', 'accepted')", (key, label)):
                    run("UPDATE synonyms SET status = 'rejected', decided_by = ?, decided = ? WHERE key = ? "
                        "AND label = ?", (by, time.time(), key, other))
                    self._log(run, "rejected", string, other, f"command: accept {label} by {by}")
            run("INSERT INTO synonyms (key, string, label, status, decided_by, decided) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key, label) DO UPDATE SET status = excluded.status, decided_by = excluded.decided_by, "
                "decided = excluded.decided", (key, string, label, status, by, time.time()))
            return self._log(run, status, string, label, f"command: {'accept' if accept else 'reject'} by {by}")

    def _check_acceptable(self, string: str, label: str) -> None:
        """A synonym in force must be a name the vocabulary can hold: not longer than a name, no control or
        invisible characters or line separators (they do not survive export), and no name another label already
        has (the exported file would claim it twice and no longer load)."""
        if not text.fits(string, text.NAME):
            raise ValueError(f"{text.quote(string, 60)} is {len(string)} characters long; a learned synonym is a "
                             f"name of at most {text.LIMITS[text.NAME]}")
        odd = sorted({f"U+{ord(c):04X}" for c in string
                      if c in "\x85\u2028\u2029" or unicodedata.category(c) in ("Cc", "Cf", "Cs")})
        if odd:
            raise ValueError(f"{text.quote(string, 60)} holds control, invisible or line-separator characters "
                             f"({', '.join(odd)}): write the name as plain text")
        result = self.normalizer.normalize(string)
        if result.method in (EXACT, ALIAS) and result.label not in (None, label):
            raise ValueError(f"{string!r} is already a name of {result.label!r} in the vocabulary: accepting it "
                             f"for {label!r} would give one name two labels; change the vocabulary file instead")

    # ---- what the expert reviews -------------------------------------------------------------------------

    def review(self) -> SynonymReview:
        """Every learned string once, in the state the rule and the experts' decisions leave it, with counts,
        reviewers and example tasks: in force (promoted or accepted), pending (names the vocabulary lacks),
        conflicts (one entry per string, every label it points at), model errors (strings the vocabulary gives
        another label: the MLLM named the wrong thing), rejected; new-class candidates; and how many undecided
        strings the screening leaves out, by kind (group words, none words, strings naming several labels...).

        A pending pair is a conflict when the string also points at another label (evidence for it, or in force
        for it). A rejected pair points nowhere."""
        decided = {(key, label): (status, string, by) for key, label, status, string, by in self.store.query(
            "SELECT key, label, status, string, decided_by FROM synonyms")}
        support = self._review_support()
        in_force_labels: dict[str, set[str]] = {}
        for (key, label), (status, _, _) in decided.items():
            if status in ("promoted", "accepted"):
                in_force_labels.setdefault(key, set()).add(label)
        kept: dict[str, list[ReviewEntry]] = {"in_force": [], "pending": [], "rejected": [], "model_errors": []}
        left_out: dict[str, int] = {}
        conflicts: dict[str, list[ReviewEntry]] = {}
        for key, label in sorted(set(support) | set(decided)):
            status, decided_string, by = decided.get((key, label), ("pending", None, None))
            found = support.get((key, label))
            entry = ReviewEntry(found.string if found else decided_string, label, status, by, found)
            if status in ("promoted", "accepted", "rejected"):
                kept["rejected" if status == "rejected" else "in_force"].append(entry)
                continue
            flag = self.screen(entry.string, label)
            if flag is not None and flag.kind == NAMES_ANOTHER:
                kept["model_errors"].append(replace(entry, named=flag.detail))
            elif flag is not None:
                left_out[flag.kind] = left_out.get(flag.kind, 0) + 1
            elif self._points_elsewhere(key, label, support, decided, in_force_labels):
                conflicts.setdefault(key, []).append(entry)
            else:
                kept["pending"].append(entry)
        counts = {str(kind): int(count) for kind, count in self.store.query(
            "SELECT kind, count(*) FROM annotation_evidence GROUP BY kind")}
        return SynonymReview(
            tuple(kept["in_force"]), tuple(sorted(kept["pending"], key=lambda e: -e.count)),
            tuple(Conflict(entries[0].string, tuple(entries), tuple(sorted(in_force_labels.get(key, ()))))
                  for key, entries in conflicts.items()),
            tuple(sorted(kept["model_errors"], key=lambda e: -e.count)), tuple(kept["rejected"]), left_out,
            self._new_classes(), counts)

    @staticmethod
    def _points_elsewhere(key: str, label: str, support: Mapping[tuple[str, str], Support],
                          decided: Mapping[tuple[str, str], tuple[str, str | None, str | None]],
                          in_force_labels: Mapping[str, set[str]]) -> bool:
        """Does the string also point at another label: pending evidence for it, or in force for it?"""
        pending_elsewhere = {other for k, other in support if k == key and other != label
                             and decided.get((k, other), ("pending", None, None))[0] == "pending"}
        return bool(pending_elsewhere | (in_force_labels.get(key, set()) - {label}))

    def _review_support(self) -> dict[tuple[str, str], Support]:
        """(key, label) -> the string as first written, annotations, reviewers and up to five example tasks."""
        grouped: dict[tuple[str, str], tuple[str, int, set[int], list[TaskRef]]] = {}
        for key, label, string, reviewer, task, project in self.store.query(
                "SELECT key, label, string, reviewer, task_id, project_id FROM annotation_evidence "
                "WHERE kind = 'synonym' ORDER BY created, annotation_id"):
            first, count, reviewers, tasks = grouped.setdefault((key, label), (string, 0, set(), []))
            if reviewer is not None:
                reviewers.add(reviewer)
            if len(tasks) < 5 and (project, task) not in tasks:
                tasks.append((project, task))
            grouped[(key, label)] = (first, count + 1, reviewers, tasks)
        return {pair: Support(string, count, tuple(sorted(reviewers)), tuple(tasks))
                for pair, (string, count, reviewers, tasks) in grouped.items()}

    def _new_classes(self) -> tuple[NewClass, ...]:
        found: dict[str, tuple[int, list[str], list[TaskRef]]] = {}
        for label, string, task, project in self.store.query(
                "SELECT label, string, task_id, project_id FROM annotation_evidence WHERE kind = 'new_class' "
                "ORDER BY created"):
            count, strings, tasks = found.setdefault(label, (0, [], []))
            if string and string not in strings:
                strings.append(string)
            if len(tasks) < 5 and (project, task) not in tasks:
                tasks.append((project, task))
            found[label] = (count + 1, strings, tasks)
        return tuple(NewClass(label, count, tuple(strings), tuple(tasks))
                     for label, (count, strings, tasks) in found.items())

    def log_change(self, what: str, string: str | None, label: str | None, source: str) -> str:
        """Log a change made elsewhere (an expert's decision on a suggested name) with the others."""
        with self.store.transaction(exclusive=True) as run:
            return self._log(run, what, string, label, source)

    def changes(self, limit: int = 50) -> list[Change]:
        return self.store.changes(limit)
