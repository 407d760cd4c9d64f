"""From what each stage found to what Prelabel concludes for one image: a label, an honest none, or a failure,
with a score and a reason a reviewer can read.

Precision before coverage: a wrong label costs a reviewer more than none. So, when the MLLM answered:
- only a label the MLLM named specifically (stage 1 or stage 2, through any match but "ambiguous") can be the
  decision; CLIP re-ranks among those labels and never turns an explicit none into a label;
- a weak stage-1 match (fuzzy, embedding) that stage 2 contradicts (another label, or an explicit none) is
  vetoed: it stays in the evidence, marked, but no longer counts;
- a name that fits several labels lends them a little weight for the ranking, never a decision.
When the MLLM is off (CLIP-only configuration), CLIP's ranking decides alone. When it was configured but did not
answer, or the image could not be used, the outcome is a failure: shown, not cached, tried again.

Ranking: the final score, clip_weight x fused CLIP + (1 - clip_weight) x the MLLM's normalised credit (1.0 exact,
0.97 alias, 0.95 learned, 0.92 rule, 0.9 x stage 2, 0.8 x a name in the description, about 0.5-0.8 fuzzy), CLIP
alone its softmax, puts the labels in play; each gets a Finding (how it was found), and the calibration model
(pipeline/calibration.py) turns that into the probability that it is right. The decision is the most probable
label allowed to decide; its score, and the ranking's, are those probabilities: the number Label Studio shows,
the evidence's percentage and what the PoC report's calibration chart checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from prelabel.pipeline import calibration, reasons
from prelabel.pipeline.calibration import Calibration
from prelabel.pipeline.reasons import Reason
from prelabel.pipeline.result import DEADLINE, FAILED, LABEL, NONE, Evidence, Finding, ImagePrediction
from prelabel.vocabulary.normalize import AMBIGUOUS, EMBEDDING, FUZZY, PROPOSALS, SEVERAL, Normalized

TOP_K = 5
DESCRIPTION_WEIGHT = 0.8  # a name found in the free description counts a little less than a named candidate
STAGE2_WEIGHT = 0.9  # stage 2 is asked only when stage 1 was unsure; its pick beats a fuzzy stage-1 match
AMBIGUOUS_WEIGHT = 0.5  # a generic name ("weevil") lends its labels a little weight, never a decision
WEAK = frozenset({FUZZY, EMBEDDING})  # decisive matches that stage 2 may overrule
# Stage 2 with the image: the MLLM picked one of a proposal's candidates after seeing the picture (pipeline.py).
IMAGE_CHOICE = calibration.IMAGE_CHOICE
STAGE2_SOURCE = calibration.STAGE2  # stage 2's answer, as a Credit's source
# What an MLLM writes when it sees nothing it was asked about (compared after light normalisation).
NONE_ANSWERS = frozenset({"none", "nothing", "n/a", "na", "no", "unknown", "other", "no defect", "no defects",
                          "none of these", "none of the above", "not applicable", "なし", "該当なし", "不明", "なし。"})


@dataclass(frozen=True)
class Credit:
    score: float
    method: str  # how the label was found: a normaliser method, a proposal's reason, or IMAGE_CHOICE
    text: str  # the words that earned it
    among: int = 0  # IMAGE_CHOICE: how many candidates the MLLM chose from (for calibration and the reviewer)
    source: str = ""  # which of the MLLM's strings: classification, candidate, description, stage2


@dataclass
class Credits:
    """The MLLM's support for each label, the best credit per label; `several`: labels one answer affirmed side
    by side (no single label; a multi-choice config checks them all)."""

    by_label: dict[str, Credit] = field(default_factory=dict)
    several: list[str] = field(default_factory=list)

    def add(self, result: Normalized, weight: float, source: str) -> None:
        if result.label:
            self._keep(result.label, Credit(weight * result.score, result.method, result.input, source=source))
        elif result.method == SEVERAL and result.labels:
            for label in result.labels:
                self._keep(label, Credit(weight * result.score, SEVERAL, result.input, source=source))
            self.several.extend(label for label in result.labels if label not in self.several)
        elif result.method in PROPOSALS:
            # A proposal (a group word, alternatives, a negated or qualified name...) lends its candidates a
            # little weight for the ranking, never a decision.
            for alternative in result.alternatives:
                self._keep(alternative.label, Credit(weight * AMBIGUOUS_WEIGHT * alternative.score, result.method,
                                                     result.input, source=source))

    def choose(self, label: str, score: float, text: str, among: int) -> None:
        """Stage 2 with the image chose `label` from `among` candidates."""
        self._keep(label, Credit(score, IMAGE_CHOICE, text, among, STAGE2_SOURCE))

    def _keep(self, label: str, credit: Credit) -> None:
        if label not in self.by_label or credit.score > self.by_label[label].score:
            self.by_label[label] = credit

    def best(self) -> float:
        return max((credit.score for credit in self.by_label.values()), default=0.0)

    def veto(self, keep: str | None) -> list[str]:
        """Stage 2 named `keep` (or None for an explicit none): weak credits for any other label no longer
        count. Returns those labels."""
        vetoed = [label for label, credit in self.by_label.items() if label != keep and credit.method in WEAK]
        for label in vetoed:
            del self.by_label[label]
        return vetoed

    def decisive(self) -> set[str]:
        """Labels the MLLM named specifically: the only ones that can become the decision."""
        return {label for label, credit in self.by_label.items() if credit.method not in PROPOSALS}

    def vector(self, labels: list[str]) -> NDArray[Any] | None:
        if not self.by_label:
            return None
        return np.array([self.by_label[label].score if label in self.by_label else 0.0 for label in labels])


def final_scores(fused: NDArray[Any] | None, mllm: NDArray[Any] | None, clip_weight: float) -> NDArray[Any] | None:
    """clip_weight x fused CLIP + (1 - clip_weight) x MLLM-normalised; either alone when the other is absent."""
    if fused is not None and mllm is not None:
        return clip_weight * fused + (1 - clip_weight) * mllm
    return fused if fused is not None else mllm


def top(labels: list[str], scores: NDArray[Any], k: int = TOP_K, among: set[str] | None = None) -> dict[str, float]:
    order = np.argsort(-scores, kind="stable")
    picked = [i for i in order if among is None or labels[i] in among][:k]
    return {labels[i]: float(scores[i]) for i in picked}


def conclude(prediction: ImagePrediction, labels: list[str], credits: Credits, fused: NDArray[Any] | None,
             clip_weight: float, mllm_configured: bool, model: Calibration) -> None:
    """Set the prediction's state, label, score (the probability that the label is right), ranking and reason
    from the stages' findings."""
    if credits.by_label:
        prediction.stage_scores["mllm"] = dict(sorted(((label, credit.score) for label, credit
                                                       in credits.by_label.items()), key=lambda kv: -kv[1])[:TOP_K])
    final = final_scores(fused, credits.vector(labels), clip_weight)
    probabilities: dict[str, float] = {}
    found: dict[str, Finding] = {}
    ordered: list[str] = []  # the labels in play, most probable first (ties: the higher final score)
    if final is not None:
        prediction.stage_scores["final"] = top(labels, final)
        # The MLLM's labels, and CLIP's best where CLIP ran (labels nothing found have no probability to show).
        in_play = [*credits.by_label, *(prediction.stage_scores["final"] if fused is not None else ())]
        found = findings(labels, in_play, credits, prediction.evidence, fused)
        probabilities = model.probabilities(found)
        prediction.scored_by = model.scored_by
        index = {label: labels.index(label) for label in found}
        ordered = sorted(found, key=lambda label: (-probabilities[label], -final[index[label]]))
        prediction.ranking = [(label, probabilities[label]) for label in ordered[:TOP_K]]
    errors = prediction.errors
    if "image" in errors or "pipeline" in errors:
        prediction.state = FAILED
        error = errors.get("image") or errors.get("pipeline") or ""
        prediction.why = Reason(reasons.IMAGE_UNUSABLE, method=error.split(":", 1)[0].strip(), detail=error)
        return
    if mllm_configured and "stage1" in errors:
        prediction.state = FAILED
        cause, _, detail = errors["stage1"].partition(":")
        prediction.why = (Reason(reasons.DEADLINE_PASSED, method=cause, detail=detail.strip()) if cause == DEADLINE
                          else Reason(reasons.NO_ANSWER, method=cause))
        return
    if final is None and not mllm_configured:
        # With the MLLM on, no score at all means it named nothing: none_reason below says why.
        prediction.state, prediction.why = NONE, Reason(reasons.NO_STAGE)
        return
    decisive = credits.decisive()
    allowed = [label for label in ordered if label in decisive] if mllm_configured else ordered
    if not allowed or final is None:
        prediction.state, prediction.why = NONE, none_reason(prediction)
        if credits.several:
            prediction.labels = [(label, probabilities[label]) for label in credits.several if label in probabilities]
            prediction.why = Reason(reasons.SIDE_BY_SIDE, tuple(credits.several[:4]), count=len(credits.several))
        return
    label = allowed[0]  # the most probable of the labels that may decide
    prediction.state, prediction.label, prediction.score = LABEL, label, probabilities[label]
    prediction.finding = found[label]
    credit = credits.by_label.get(label)
    prediction.why = (Reason(reasons.CLIP_ALONE) if credit is None
                      else Reason(reasons.CHOSEN, count=credit.among) if credit.method == IMAGE_CHOICE
                      else Reason(reasons.NAMED, words=credit.text[:80], method=credit.method))


def clip_margin(fused: NDArray[Any], index: int) -> float:
    """CLIP's fused probability for the label at `index` less the best other label's (a calibration feature)."""
    other = next((int(j) for j in np.argsort(-fused, kind="stable")[:2] if j != index), None)
    return float(fused[index] - (fused[other] if other is not None else 0.0))


def findings(labels: list[str], in_play: list[str], credits: Credits, evidence: Evidence,
             fused: NDArray[Any] | None) -> dict[str, Finding]:
    """How each label in play was found: what its probability is computed from (pipeline/calibration.py). Stage
    1's strongest specific match names the way even where stage 2 confirmed it; stage 2 is a feature of its own."""
    shown = len(evidence.shortlist or labels)
    decisive = credits.decisive()
    named = Counter(candidate.label for candidate in evidence.candidates if candidate.label)
    stage2 = evidence.stage2
    by_stage2 = stage2.label if stage2 is not None else None
    if by_stage2:
        named[by_stage2] += 1
    found = {}
    for label in dict.fromkeys(in_play):
        margin = None if fused is None else clip_margin(fused, labels.index(label))
        confirmed = "" if stage2 is None or by_stage2 != label else "image" if stage2.with_image else "text"
        first = max((c for c in evidence.candidates if c.label == label and c.method not in PROPOSALS
                     and label not in evidence.vetoed), key=lambda c: c.score, default=None)
        credit = credits.by_label.get(label)
        if first is not None:
            way, source, match, among = first.method, first.source, first.score, shown
        elif credit is None:
            way, source, match, among = calibration.CLIP, calibration.CLIP, 0.0, shown
        elif confirmed:
            way = calibration.IMAGE_CHOICE if confirmed == "image" else calibration.STAGE2
            source, match, among = STAGE2_SOURCE, stage2.score if stage2 else 0.0, credit.among or shown
        else:  # only a proposal's candidate
            way, source, match, among = calibration.PROPOSAL, credit.source, credit.score, shown
        found[label] = Finding(way, source, match, named[label], len(decisive - {label}), among, margin, confirmed)
    return found


def is_none_answer(text: str) -> bool:
    """The MLLM's own way of saying that nothing from the list is there."""
    return " ".join(text.lower().split()).strip(".。!") in NONE_ANSWERS


def none_reason(prediction: ImagePrediction) -> Reason:
    """Why nothing the MLLM said became a label."""
    evidence = prediction.evidence
    classification = evidence.stage1.classification if evidence.stage1 is not None else ""
    if is_none_answer(classification):
        return Reason(reasons.SAW_NOTHING, words=classification)
    stage2, vetoed = evidence.stage2, evidence.vetoed
    if vetoed and stage2 is not None:
        return Reason(reasons.CONTRADICTED, tuple(vetoed[:3]), words=stage2.answer[:60])
    ambiguous = [c for c in evidence.candidates if c.method == AMBIGUOUS]
    if ambiguous:
        first = ambiguous[0]
        return Reason(reasons.AMBIGUOUS, words=first.text[:60], count=len(first.alternatives))
    # A proposal with no candidate left (a denied name: "no BMSB here") still says why no label was named.
    proposals = sorted((c for c in evidence.candidates if c.method in PROPOSALS), key=lambda c: not c.alternatives)
    if proposals:
        first = proposals[0]
        return Reason(reasons.UNSURE, words=first.text[:60], method=first.method)
    if stage2 is not None and (stage2.method == NONE or stage2.label is None):
        return Reason(reasons.UNKNOWN_NAMES_STAGE2, words=stage2.answer[:60])
    return Reason(reasons.UNKNOWN_NAMES)
