"""report.html: one self-contained page (plots as PNG data URLs, the Japanese font subset embedded), drawn
from the metrics record alone, so it opens offline and renders the same on any machine."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import jinja2

from prelabel.pipeline import reasons
from prelabel.report import plots
from prelabel.report.document import ReportMetrics
from prelabel.report.fonts import HTML_FAMILY, font_face_css
from prelabel.report.records import NONE_NAME
from prelabel.report.words import LANGUAGES, words

TEMPLATES = Path(__file__).parent / "templates"
FONT_SLOT = "/*prelabel-font-face*/"


UNDEFINED = "\u2013"  # an en dash: a figure with nothing to divide, footnoted where it can appear


def _percent(value: float | None, digits: int = 1) -> str:
    return UNDEFINED if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | None) -> str:
    return UNDEFINED if value is None else f"{value:,.0f}"


def shown_as(names: Mapping[str, str], none: str = NONE_NAME) -> Callable[[str], str]:
    """A label as the project's reviewers read it: the config's choice (the vocabulary label beside it) where the
    two differ, the label itself elsewhere; the none answer in the page's words."""
    return lambda label: none if label == NONE_NAME else f"{names[label]} ({label})" if label in names else label


def environment(names: Mapping[str, str] | None = None, none: str = NONE_NAME) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = _percent
    env.filters["num"] = _number
    env.filters["shown"] = shown_as(names or {}, none)
    # The names a reason's sentences use too (pipeline/reasons.py): a normaliser method, a failure's cause.
    env.filters["method_in"] = lambda name, language: reasons.method(str(name), language)
    env.filters["cause_in"] = lambda name, language: reasons.cause(str(name), language) or name
    return env


def draw(metrics: ReportMetrics, say: Mapping[str, str]) -> dict[str, str]:
    """Every plot of the page, base64 PNG, its words in the page's language."""
    calibration = metrics.calibration
    found = {
        "reliability": plots.reliability_diagram(calibration.bins, say),
        "coverage": plots.coverage_curve(calibration.curve, calibration.target, calibration.threshold, say),
    }
    if metrics.confusion.labels:  # none when Prelabel answered no reviewed task (every one failed)
        shown = shown_as(metrics.shown, say["none_name"])
        found["confusion"] = plots.confusion_matrix([shown(label) for label in metrics.confusion.labels],
                                                    metrics.confusion.counts, say)
    if metrics.ablation:
        found["stages"] = plots.stage_bars(metrics.ablation, say)
    return {name: base64.b64encode(png).decode("ascii") for name, png in found.items()}


def render(metrics: ReportMetrics) -> str:
    language = metrics.language if metrics.language in LANGUAGES else "en"
    say = words(language)
    page = environment(metrics.shown, say["none_name"]).get_template("report.html.j2").render(
        m=replace(metrics, language=language), w=say, plots=draw(metrics, say), font_css=FONT_SLOT,
        cjk_family=HTML_FAMILY, none_name=NONE_NAME,
        outside={entry.label for entry in metrics.outside_vocabulary})
    # The font subset holds exactly the characters the finished page uses.
    return page.replace(FONT_SLOT, font_face_css(page), 1)
