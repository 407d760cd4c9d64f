"""The score: the probability that a label is right, from how it was found (issue 20, docs/methods.md).

A logistic regression (scikit-learn's LogisticRegression, L2-regularised) maps a Finding (how the label was found:
the match method or stage, which of the MLLM's strings named it, how many of them agreed, how many other labels
they named, how many labels were in play, CLIP's margin when CLIP is on) to the probability that a reviewer keeps
the label. The shipped prior (calibration-prior.json) is fitted on the repository's normaliser corpora by
bench/calibration_prior.py; a project's own model is refitted from its reviewers' verdicts once there are enough
(MIN_REVIEWED). Applying a fitted model is a dot product in plain Python: the web service computes model_version
from this module and must not load numpy (tests/test_service.py); scikit-learn and numpy load only to fit.

Two rules keep the numbers honest where data cannot:
- a way of finding a label that the fitted data holds fewer than MIN_MEASURED examples of has no measured
  probability: it gets chance among the labels in play, 1 / among (a choice between two labels shows 50%);
- one image shows one thing (single choice): the labels' probabilities never sum above 1, so two labels with the
  same evidence (a coin flip) never show more than 50% each.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prelabel.pipeline.result import Finding

if TYPE_CHECKING:  # the normaliser loads numpy and the language tools: the web service imports this module
    from prelabel.vocabulary.normalize import Normalized

PRIOR_PATH = Path(__file__).with_name("calibration-prior.json")
STAGE1_WAYS = ("exact", "alias", "suggested", "learned", "rule", "fuzzy", "embedding")
STAGE2, IMAGE_CHOICE, CLIP, PROPOSAL = "stage2", "image_choice", "clip", "proposal"
WAYS = (*STAGE1_WAYS, STAGE2, IMAGE_CHOICE, CLIP, PROPOSAL)
SOURCES = ("classification", "candidate", "description", "stage2", "clip")
STAGE2_KINDS = ("text", "image")
NUMERIC = ("match", "support", "rivals", "log2_among", "clip_on", "clip_margin")
FEATURES = (*(f"way={way}" for way in WAYS), *(f"source={source}" for source in SOURCES),
            *(f"stage2={kind}" for kind in STAGE2_KINDS), *NUMERIC)
# Fewer examples of a way than this and its accuracy is not measured (a 95% interval at 30 is still +-18 points
# wide at 50%, and a logistic coefficient from fewer is mostly the regulariser's).
MIN_MEASURED = 30
PRIOR, PROJECT = "prior", "project"  # which model made a score (ImagePrediction.scored_by)
# What a reviewer or customer reads beside a score the prior made: it knows the normaliser, not the MLLM's errors.
PRIOR_NOTE = {"en": "prior: the normaliser's precision, not yet measured on this project",
              "ja": "事前推定：語彙照合の精度で、このプロジェクトではまだ測定していません"}
# A project's own model replaces the prior from this many reviewed labelled tasks: the reliability diagram's bins
# then hold about 20 tasks each over the ten bins, enough for an expected calibration error near 0.05 (the
# sampling error of a bin's accuracy at 20 tasks is about 0.1, and it averages down over the bins).
MIN_REVIEWED = 200
REGULARISATION = 1.0  # scikit-learn's default C: the corpora are small and their methods nearly separable


def features(finding: Finding) -> list[float]:
    """The model's input for one Finding (FEATURES, in order)."""
    row = [0.0] * len(FEATURES)
    for name in (f"way={finding.way}", f"source={finding.source}", f"stage2={finding.stage2}"):
        if name in FEATURES:
            row[FEATURES.index(name)] = 1.0
    numeric = (finding.match, min(finding.support, 5), min(finding.rivals, 5), math.log2(max(1, finding.among)),
               float(finding.clip_margin is not None), finding.clip_margin or 0.0)
    row[-len(NUMERIC):] = [float(value) for value in numeric]
    return row


@dataclass(frozen=True)
class Calibration:
    """A fitted model: coefficients over FEATURES, and how many examples of each way it was fitted on."""

    coefficients: tuple[float, ...]
    intercept: float
    measured: Mapping[str, int]  # way -> examples in the fitted data
    fitted_on: str  # what the data was, for people ("the repository's corpora", "project 3's reviews")

    @property
    def scored_by(self) -> str:
        """PRIOR for the shipped prior, PROJECT for a model fitted on a project's reviews."""
        return PRIOR if self == prior() else PROJECT

    @property
    def version(self) -> str:
        """8 hex digits that change with the model: they enter model_version."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    def measures(self, finding: Finding) -> bool:
        """Whether the data this model was fitted on holds enough labels found that way."""
        return self.measured.get(finding.way, 0) >= MIN_MEASURED

    def probability(self, finding: Finding) -> float:
        """The probability that the label found so is right, alone (probabilities() weighs an image's labels
        together)."""
        if not self.measures(finding):
            return 1.0 / max(1, finding.among)
        z = self.intercept + sum(c * x for c, x in zip(self.coefficients, features(finding), strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def probabilities(self, findings: Mapping[str, Finding]) -> dict[str, float]:
        """Each label's probability, the labels of one image together summing to 1 at most (it shows one thing):
        measured ones scaled down together where they sum above 1, then chance for the unmeasured ones, within
        what the measured ones leave."""
        measured = {label: self.probability(f) for label, f in findings.items() if self.measures(f)}
        unmeasured = {label: self.probability(f) for label, f in findings.items() if not self.measures(f)}
        found = _within(measured, 1.0)
        found.update(_within(unmeasured, max(0.0, 1.0 - sum(found.values()))))
        return {label: found[label] for label in findings}

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "coefficients": list(self.coefficients),
                "intercept": self.intercept, "measured": dict(sorted(self.measured.items())),
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        if list(data["features"]) != list(FEATURES):
            raise ValueError("the calibration model was fitted on other features: refit it "
                             "(bench/calibration_prior.py for the prior)")
        return cls(tuple(float(c) for c in data["coefficients"]), float(data["intercept"]),
                   {str(way): int(n) for way, n in data["measured"].items()}, str(data["fitted_on"]))


def _within(probabilities: dict[str, float], room: float) -> dict[str, float]:
    """Scaled down together to sum to `room` at most."""
    total = sum(probabilities.values())
    return {label: p * room / total for label, p in probabilities.items()} if total > room else probabilities


def of_answer(result: Normalized, among: int) -> Finding:
    """The Finding of a label named by one string alone, as the MLLM's classification (the corpora's cases,
    `prelabel normalize`)."""
    return Finding(result.method, "classification", result.score, 1, 0, among)


def fit(findings: Sequence[Finding], right: Sequence[bool], fitted_on: str, strength: float = REGULARISATION,
        weights: Sequence[float] | None = None) -> Calibration:
    """A logistic regression of right on the findings' features (`strength`: scikit-learn's C, the inverse of the
    L2 penalty; `weights`: each example's, 1 by default). Needs both outcomes among the examples."""
    import numpy as np  # fitting only: applying the model needs neither
    from sklearn.linear_model import LogisticRegression

    if len(set(right)) < 2:
        raise ValueError("calibration needs both right and wrong labels among the examples")
    model = LogisticRegression(C=strength, max_iter=2000)
    model.fit(np.array([features(finding) for finding in findings]), np.array(right, dtype=int),
              sample_weight=None if weights is None else np.array(weights, dtype=float))
    # Rounded as the JSON keeps them, so a model read back is the model fitted.
    return Calibration(tuple(round(float(c), 6) for c in model.coef_[0]), round(float(model.intercept_[0]), 6),
                       dict(Counter(finding.way for finding in findings)), fitted_on)


def cross_validated(findings: Sequence[Finding], right: Sequence[bool], folds: int = 5) -> list[float]:
    """Each example's probability from a model fitted without it (folds by position, stratified by outcome):
    what a model fitted on all of them can be expected to score on tasks it has not seen."""
    order = sorted(range(len(findings)), key=lambda i: (right[i], i))
    fold = {index: position % folds for position, index in enumerate(order)}
    scores = [0.0] * len(findings)
    for k in range(folds):
        model = fit([findings[i] for i in fold if fold[i] != k], [right[i] for i in fold if fold[i] != k], "fold")
        for i in (i for i in fold if fold[i] == k):
            scores[i] = model.probability(findings[i])
    return scores


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message says which and why, in one line."""


@functools.cache
def prior() -> Calibration:
    """The shipped prior (fitted on the repository's corpora by bench/calibration_prior.py)."""
    return Calibration.from_dict(json.loads(PRIOR_PATH.read_text(encoding="utf-8")))


def load(path: str) -> Calibration:
    """PRELABEL_CALIBRATION's model (`prelabel calibrate` writes it), or the prior when the setting is empty."""
    if not path:
        return prior()
    try:
        return _read(path, Path(path).stat().st_mtime_ns)
    except OSError as exc:
        raise CalibrationError(f"PRELABEL_CALIBRATION: cannot read {path}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=8)
def _read(path: str, modified: int) -> Calibration:
    """Read once per version of the file (the web service asks for model_version often)."""
    try:
        return Calibration.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CalibrationError(f"PRELABEL_CALIBRATION: {path} is not a calibration model written by "
                               f"`prelabel calibrate` ({type(exc).__name__}: {str(exc)[:120]})") from None
