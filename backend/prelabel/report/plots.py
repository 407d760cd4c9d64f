"""The report's plots, drawn from metrics.json's parts as PNG bytes (embedded in the HTML as data URLs).

matplotlib's object API (Figure, no pyplot): no global state, no display needed. Text uses DejaVu Sans and
falls back glyph by glyph to the shipped Japanese font (fonts.py), so Japanese labels are never boxes.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Mapping, Sequence
from typing import ParamSpec

from matplotlib import font_manager
from matplotlib.figure import Figure

from prelabel.report.fonts import cjk_font_path
from prelabel.report.metrics import Bin, CurvePoint, Estimate

P = ParamSpec("P")
DPI = 110
LONGEST_LABEL = 28
ACCENT, GREY, GOOD = "#1f5f99", "#9aa5b1", "#2e7d32"


@functools.cache
def font_family() -> list[str]:
    path = str(cjk_font_path())
    font_manager.fontManager.addfont(path)
    return ["DejaVu Sans", font_manager.FontProperties(fname=path).get_name()]


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(label: str) -> str:
    return label if len(label) <= LONGEST_LABEL else label[:LONGEST_LABEL - 1] + "…"


def _styled(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """Run a drawing function with the report's fonts (matplotlib reads rcParams when text is made)."""
    from matplotlib import rc_context

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> bytes:
        with rc_context({"font.family": font_family(), "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False}):
            return draw(*args, **kwargs)
    return wrapper


@_styled
def confusion_matrix(labels: Sequence[str], counts: Sequence[Sequence[int]], say: Mapping[str, str]) -> bytes:
    """Rows: the reviewers' labels; columns: Prelabel's. Colour: the row's share (recall on the diagonal);
    numbers: reviewed tasks."""
    size = len(labels)
    side = max(4.0, 0.42 * size + 2.4)
    figure = _figure(side + 0.8, side)
    axes = figure.add_subplot()
    shares = [[value / (sum(row) or 1) for value in row] for row in counts]
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(size), [_short(label) for label in labels], rotation=45, ha="right")
    axes.set_yticks(range(size), [_short(label) for label in labels])
    axes.set_xlabel(say["plot_predicted"])
    axes.set_ylabel(say["plot_reviewer"])
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            if value:
                axes.text(j, i, str(value), ha="center", va="center", fontsize=8,
                          color="white" if shares[i][j] > 0.55 else "black")
    figure.colorbar(image, ax=axes, shrink=0.6, label=say["plot_row_share"])
    return _png(figure)


@_styled
def reliability_diagram(bins: Sequence[Bin], say: Mapping[str, str]) -> bytes:
    """Accuracy per score bin against the diagonal a calibrated score would follow."""
    figure = _figure(4.6, 4.0)
    axes = figure.add_subplot()
    # (low, high, mean score, accuracy) of the bins with tasks (only those have a score and an accuracy)
    filled = [(b.low, b.high, b.score, b.accuracy) for b in bins if b.score is not None and b.accuracy is not None]
    axes.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1, label=say["plot_calibrated"])
    axes.bar([low for low, _, _, _ in filled], [accuracy for _, _, _, accuracy in filled],
             width=[high - low for low, high, _, _ in filled], align="edge", color=ACCENT, alpha=0.8,
             edgecolor="white", label=say["plot_bin"])
    axes.plot([score for _, _, score, _ in filled], [accuracy for _, _, _, accuracy in filled], "o", color="black",
              markersize=3, label=say["plot_mean"])
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(say["plot_score"])
    axes.set_ylabel(say["plot_correct"])
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    return _png(figure)


@_styled
def coverage_curve(curve: Sequence[CurvePoint], target: float, threshold: CurvePoint | None,
                   say: Mapping[str, str]) -> bytes:
    """Accepting every pre-label scored at or above a threshold: how many tasks that covers, how accurate."""
    figure = _figure(4.6, 4.0)
    axes = figure.add_subplot()
    axes.plot([p.coverage for p in curve], [p.accuracy for p in curve], color=ACCENT, linewidth=1.8)
    axes.axhline(target, color=GREY, linestyle="--", linewidth=1,
                 label=say["plot_target"].format(target=f"{target:.0%}"))
    if threshold:
        axes.plot([threshold.coverage], [threshold.accuracy], "o", color=GOOD,
                  label=say["plot_threshold"].format(threshold=f"{threshold.threshold:.2f}",
                                                     coverage=f"{threshold.coverage:.0%}"))
    axes.set_xlim(0, 1)
    axes.set_ylim(min([0.5] + [p.accuracy for p in curve]) - 0.02, 1.01)
    axes.set_xlabel(say["plot_coverage"])
    axes.set_ylabel(say["plot_accepted"])
    axes.legend(loc="lower left", fontsize=8, frameon=False)
    return _png(figure)


@_styled
def stage_bars(stages: Mapping[str, Estimate], say: Mapping[str, str]) -> bytes:
    """How often each stage's first choice was right, with its 95% interval, on the same tasks."""
    names = [say[f"stage_{stage}"] for stage in stages]
    values = [entry.value for entry in stages.values()]
    errors = [[v - e.low for v, e in zip(values, stages.values(), strict=True)],
              [e.high - v for v, e in zip(values, stages.values(), strict=True)]]
    figure = _figure(5.6, 0.5 * len(names) + 1.2)
    axes = figure.add_subplot()
    positions = list(range(len(names)))[::-1]
    axes.barh(positions, values, xerr=errors, color=[ACCENT] * (len(names) - 1) + [GOOD], capsize=3, height=0.6)
    axes.set_yticks(positions, names)
    axes.set_xlim(0, 1)
    axes.set_xlabel(say["plot_stage_right"])
    for position, value, entry in zip(positions, values, stages.values(), strict=True):
        axes.text(min(entry.high + 0.02, 0.93), position + 0.32, f"{value:.0%}", va="center", fontsize=8)
    return _png(figure)
