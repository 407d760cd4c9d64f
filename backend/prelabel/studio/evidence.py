"""The reviewer's text: why Prelabel suggests a label (or none, or failed), shown on Label Studio's labeling page
in the config's evidence TextArea (labelconfig.EVIDENCE_NAME), read-only.

Plain lines (Label Studio shows each on its own line and drops leading spaces, hence the dashes), readable at a
glance, the decision first; in the language the project's choices are shown in (Japanese where the config shows
Japanese names: 提案, 理由..., the reasons and sentences too; English otherwise; prelabel.studio.wording):

    Suggested: Halyomorpha halys, 86% (prior: the normaliser's precision, not yet measured on this project)
    Why: named by the MLLM (alias match of 'BMSB')
    MLLM's words, and how each matched the vocabulary:
    - classification "BMSB" -> Halyomorpha halys: alias 97%
    - description "A photo of a BMSB on a leaf." -> Halyomorpha halys: alias 97%
    Runner-ups: Nezara viridula 9%, Sitophilus oryzae 3%
    How Prelabel looked: photo read; the MLLM described the photo; compared the photo with each label (CLIP)

The MLLM's words are quoted as they are (Japanese stays Japanese), cleaned of control and formatting characters
and cut to a length; the whole text is bounded. It is Prelabel's, never the reviewer's: the feedback job reads
only the choice of an annotation, never this text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from prelabel.pipeline.calibration import PRIOR, PRIOR_NOTE
from prelabel.pipeline.reasons import STAGE_FAILED, Reason, render
from prelabel.pipeline.result import FAILED, LABEL, NONE, ImagePrediction, NamedMatch, Region, Stage2Match
from prelabel.studio.labelconfig import Control
from prelabel.studio.wording import DROPPED, PHRASES, cause, method, source

MAX_WORDS = 160  # characters of one quoted MLLM string
MAX_DESCRIPTION = 300  # characters of the description
MAX_ERROR = 160  # characters of one stage error
MAX_LINES_OF_WORDS = 10  # MLLM strings listed
MAX_RUNNER_UPS = 4
MIN_RUNNER_UP = 0.005  # a score shown as at least 1%
MAX_ALTERNATIVES = 4  # labels listed for an ambiguous name
MAX_TEXT = 4000  # characters of the whole text
GIVE_UP_AFTER = 3  # failures in a row after which a failure promises no retry (wording.PHRASES "gave_up")
def clean(text: object, limit: int) -> str:
    """One line: no control or formatting characters (bidi overrides, zero-width), whitespace collapsed, at most
    `limit` characters (an ellipsis marks a cut)."""
    kept = []
    for char in str(text):
        category = unicodedata.category(char)
        if category in ("Zs", "Zl", "Zp") or char in "\t\n\r\v\f":
            kept.append(" ")
        elif category[0] != "C":  # Cc control, Cf format, Cs surrogate, Co private use, Cn unassigned
            kept.append(char)
    line = " ".join("".join(kept).split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def percent(score: float | None) -> str:
    if score is None:
        return "?"
    if 0 < score < 0.005:
        return "<1%"
    return f"{round(score * 100)}%"


def quoted(text: object, limit: int = MAX_WORDS) -> str:
    return f'"{clean(text, limit)}"'


def evidence_text(prediction: ImagePrediction, model_version: str, control: Control | None = None,
                  failures: int = 1) -> str:
    """The evidence for one prediction, as the reviewer reads it. `model_version` (the prediction carries it) is
    not shown: a version hash means nothing to a reviewer. `failures`: for a failure, how many tries at this task
    failed in a row, this one included."""
    control = control or Control()
    language = control.language
    say = PHRASES[language]

    def name(label: str) -> str:
        """A label as the reviewer's choices show it (気孔, not the alias it stores)."""
        text = clean(control.display(label), MAX_WORDS)
        knows_choices = bool(control.results or control.paths)  # Control() alone knows no config
        return f"{text} {say['no_choice']}" if knows_choices and not control.can_show(label) else text

    def headline_name(label: str) -> str:
        """The suggestion once with the vocabulary label it stores beside it, where the choice shows another."""
        shown = control.display(label)
        return name(label) if shown == label else f"{name(label)} ({clean(label, MAX_WORDS)})"

    def why(reason: Reason | None) -> str:
        return clean(render(reason, language, name), MAX_DESCRIPTION) if reason is not None else ""

    several = shown_together(prediction, control)
    # The prior knows the normaliser's precision, not this project's MLLM: said where the score is read.
    note = f" ({PRIOR_NOTE[control.language]})" if prediction.scored_by == PRIOR else ""
    lines = [_headline(prediction, control, headline_name, why, note)] if not several else [
        f"{say['suggested']}: {name(label)}, {percent(score)}{note}" for label, score in several]
    if prediction.state == FAILED:
        lines.append(say["gave_up"].format(count=failures) if failures >= GIVE_UP_AFTER else say["what_to_do"])
    if prediction.state == LABEL and prediction.why is not None:
        lines.append(f"{say['why']}: {why(prediction.why)}")
    for label, _ in several:
        lines.append(f"{say['why']} {clean(control.display(label), MAX_WORDS)}: "
                     f"{_affirmed_by(prediction, label, say)}")
    if prediction.regions is not None and prediction.state != FAILED:
        lines += _regions(prediction, name, language)
    lines += _words(prediction, name, say, language)
    # A runner-up under 1% is no alternative worth a reviewer's look: left out, not listed as 0%.
    runners = [(label, score) for label, score in prediction.ranking if label != prediction.label
               and score >= MIN_RUNNER_UP]
    if runners:
        heading = say["runners"] if prediction.state == LABEL else say["closest"]
        if "mllm" not in prediction.stage_scores and "fused" in prediction.stage_scores:
            heading += say["clip"]  # the MLLM named none of them: a picture's likeness, not a finding
        lines.append(f"{heading}: " + say["sep"].join(f"{name(label)} {percent(score)}"
                                                      for label, score in runners[:MAX_RUNNER_UPS]))
    lines.append(f"{say['stages']}: " + say["stages_sep"].join(_stages(prediction, say, language)))
    return _bounded(lines)


def region_line(region: Region, name: Callable[[str], str] | None = None, language: str = "en") -> str:
    """One region's evidence: the MLLM's name for it, and the label it normalised to with its probability, or
    why it has none. `name` shows a label as the reviewer reads it."""
    say = PHRASES[language]
    words = quoted(region.name)
    clip = ""
    if region.clip is not None:  # CLIP ran on the box's crop: what it saw there, whatever the name says
        seen = name(region.clip[0]) if name else clean(region.clip[0], MAX_WORDS)
        clip = say["crop"].format(seen=f"{seen} {percent(region.clip[1])}")
    how = method(clean(region.method, 20), language)
    if region.label is None:
        return say["region_none"].format(words=words, why=say["no_match"] if region.method == "none" else how,
                                         clip=clip)
    shown = name(region.label) if name else clean(region.label, MAX_WORDS)
    return say["region"].format(words=words, label=shown, method=how, score=percent(region.score), clip=clip)


def _regions(prediction: ImagePrediction, name: Callable[[str], str], language: str) -> list[str]:
    """A region project: each region's line, then the boxes left out and why."""
    regions, say, dropped_as = prediction.regions or [], PHRASES[language], DROPPED[language]
    lines = [say["regions"].format(count=len(regions))] + [
        f"- {n}. {region_line(region, name, language)}" for n, region in enumerate(regions[:MAX_LINES_OF_WORDS * 3], 1)]
    dropped = prediction.regions_dropped
    if dropped:
        lines.append(say["left_out"] + say["sep"].join(
            f"{count} {dropped_as.get(reason, clean(reason, 20))}" if reason != "cut_off" else dropped_as[reason]
            for reason, count in sorted(dropped.items())))
    return lines


def shown_together(prediction: ImagePrediction, control: Control) -> list[tuple[str, float]]:
    """The labels one answer affirmed side by side, when this control checks several and can show them all."""
    if not control.multiple or prediction.state != NONE or len(prediction.labels) < 2:
        return []
    return prediction.labels if all(control.can_show(label) for label, _ in prediction.labels) else []


def _affirmed_by(prediction: ImagePrediction, label: str, say: dict[str, str]) -> str:
    """The MLLM's words that affirmed this label beside the others."""
    for candidate in prediction.evidence.candidates:
        if label in candidate.labels:
            return say["beside"].format(others=len(candidate.labels) - 1, words=quoted(candidate.text))
    return say["named"]


def _headline(prediction: ImagePrediction, control: Control, name: Callable[[str], str],
              why: Callable[[Reason | None], str], note: str) -> str:
    say = PHRASES[control.language]
    if prediction.state == FAILED:
        errors = prediction.errors
        if "stage1" in errors and "image" not in errors and "pipeline" not in errors:  # the cause in words
            return f"{say['not']}: " + say["no_answer"].format(cause=_in_words(errors["stage1"], control.language))
        return f"{say['not']}: {why(prediction.why or Reason(STAGE_FAILED))}"
    label = prediction.label
    if prediction.state == LABEL and label is not None:
        if control.can_show(label):
            return f"{say['suggested']}: {name(label)}, {percent(prediction.score)}{note}"
        return f"{say['suggested']}: {say['none']}{say['full_stop']}" + say["not_shown"].format(
            label=clean(label, MAX_WORDS), score=percent(prediction.score))
    said = why(prediction.why) or say["nothing"]
    return f"{say['suggested']}: {say['none']}{say['full_stop']}{said[:1].upper()}{said[1:]}"


def _words(prediction: ImagePrediction, name: Callable[[str], str], say: dict[str, str], language: str) -> list[str]:
    """The MLLM's own words, each with how it matched; then stage 2's answer."""
    evidence = prediction.evidence
    vetoed = set(evidence.vetoed)
    distinct: list[NamedMatch] = []
    seen: set[str] = set()
    for candidate in evidence.candidates:
        if candidate.text.strip() and candidate.text not in seen:  # the classification is often a candidate too
            seen.add(candidate.text)
            distinct.append(candidate)
    lines = []
    for candidate in distinct[:MAX_LINES_OF_WORDS]:
        where = candidate.source or "candidate"
        limit = MAX_DESCRIPTION if where == "description" else MAX_WORDS
        line = f"- {clean(source(where, language), 20)} {quoted(candidate.text, limit)} -> "
        line += _match(candidate, name, say, language)
        if candidate.label in vetoed:
            line += say["vetoed"]
        lines.append(line)
    if len(distinct) > MAX_LINES_OF_WORDS:
        lines.append(say["more_words"].format(count=len(distinct) - MAX_LINES_OF_WORDS))
    stage1 = evidence.stage1
    if not lines and stage1 is not None:
        lines = [f"- {source(key, language)} {quoted(words)}"
                 for key, words in (("classification", stage1.classification), ("description", stage1.description))
                 if words]
    stage2 = evidence.stage2
    if stage2 is not None and stage2.with_image:
        among = stage2.candidates
        chosen = (f"{name(stage2.label)}: " + say["chosen"].format(among=among)
                  if stage2.label else say["none_chosen"].format(among=among))
        lines.append(f"- {say['stage2_image']} {quoted(stage2.answer)} -> {chosen}")
    elif stage2 is not None:
        lines.append(f"- {say['stage2']} {quoted(stage2.answer)} -> {_match(stage2, name, say, language)}")
    return [say["words"], *lines] if lines else []


def _match(found: NamedMatch | Stage2Match, name: Callable[[str], str], say: dict[str, str], language: str) -> str:
    how = clean(found.method or "none", 20)
    shown = method(how, language)
    label = found.label
    if label:
        return f"{name(label)}: {shown} {percent(found.score)}"
    alternatives = [alternative for alternative, _ in found.alternatives] if isinstance(found, NamedMatch) else []
    if alternatives and how != "none":  # a proposal: why no label, and its candidates
        more = len(alternatives) - MAX_ALTERNATIVES
        fits = say["fits"].format(labels=say["sep"].join(name(a) for a in alternatives[:MAX_ALTERNATIVES]))
        return f"{say['no_label']}: {shown}{say['sep']}{fits}" + (say["more"].format(count=more) if more > 0 else "")
    nearest = say["nearest"].format(labels=say["sep"].join(name(a) for a in alternatives[:2])) if alternatives else ""
    return f"{say['no_label']}: {say['no_match'] if how == 'none' else shown}{nearest}"


def _stages(prediction: ImagePrediction, say: dict[str, str], language: str) -> list[str]:
    """What ran and what failed, in the reviewer's words (the causes in developers' words stay in the logs)."""
    errors, evidence = prediction.errors, prediction.evidence
    found = []
    if "pipeline" in errors:
        found.append(say["self_failed"].format(error=clean(errors["pipeline"], MAX_ERROR)))
    found.append(say["photo_bad"] if "image" in errors else say["photo_read"])  # why: the headline says
    if "stage1" in errors:
        found.append(say["no_answer"].format(cause=_in_words(errors["stage1"], language)))
    elif evidence.stage1 is not None:
        found.append(say["described"] + (say["earlier"] if prediction.cached else ""))
    elif "image" not in errors and "pipeline" not in errors:
        found.append(say["no_mllm"])
    if "stage2" in errors:
        found.append(say["again_failed"].format(cause=_in_words(errors["stage2"], language)))
    elif evidence.stage2 is not None:
        found.append(say["asked_again"] + (say["and_photo"] if evidence.stage2.with_image else ""))
    if evidence.fusion_features:
        found.append(say["clip_ran"])
    for stage, message in errors.items():
        if stage not in ("pipeline", "image", "stage1", "stage2"):
            found.append(say["stage_failed"].format(stage=clean(stage, 20), error=clean(message, MAX_ERROR)))
    return found


def _in_words(message: str, language: str = "en") -> str:
    named = message.split(":", 1)[0].strip()
    return cause(named, language) or clean(named, 40)


def _bounded(lines: list[str]) -> str:
    """At most MAX_TEXT characters, cut at a line; the last line (what ran) always kept."""
    text = "\n".join(lines)
    if len(text) <= MAX_TEXT:
        return text
    kept, size = [], len(lines[-1]) + 20
    for line in lines[:-1]:
        if size + len(line) + 1 > MAX_TEXT:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, "… (cut)", lines[-1]])
