"""Japanese labels in the report's plots and page are drawn with real glyphs, never boxes ("tofu")."""

from __future__ import annotations

import base64
import io
import re
import warnings

import numpy as np
from fontTools.ttLib import TTFont
from matplotlib import rc_context
from matplotlib.figure import Figure
from PIL import Image

from prelabel.report import fonts, plots
from prelabel.report.metrics import Bin, CurvePoint, Estimate
from prelabel.report.words import words


def render(text: str, family: list[str]) -> np.ndarray:
    with rc_context({"font.family": family}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DejaVu Sans alone warns about every glyph it lacks
        figure = Figure(figsize=(1, 0.5), dpi=100)
        figure.text(0.1, 0.2, text, fontsize=20)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return np.asarray(Image.open(buffer).convert("L"))


def test_the_fallback_font_draws_japanese_glyphs():
    # DejaVu Sans has no kanji: it draws the same box for any of them (a box marked 字, for any Han character).
    # With the report's fonts, two different kanji look different, and neither looks like the box.
    box_a, box_b = render("汚", ["DejaVu Sans"]), render("傷", ["DejaVu Sans"])
    assert np.array_equal(box_a, box_b)
    glyph_a, glyph_b = render("汚", plots.font_family()), render("傷", plots.font_family())
    assert not np.array_equal(glyph_a, glyph_b)
    assert not np.array_equal(glyph_a, box_a) and (glyph_a < 128).sum() > 20  # ink, not an empty image


def test_plots_with_japanese_labels_and_words_miss_no_glyph():
    say = words("ja")  # the axes and legends in Japanese too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pngs = [plots.confusion_matrix(["傷", "汚れ", "(none)"], [[3, 1, 0], [0, 2, 1], [1, 0, 4]], say),
                plots.stage_bars({"mllm": Estimate(value=0.8, low=0.7, high=0.9, n=10, n_effective=10.0,
                                                   weight=10.0)}, say),
                plots.reliability_diagram([Bin(low=0.9, high=1.0, tasks=2, score=0.95, accuracy=1.0)], say),
                plots.coverage_curve([CurvePoint(coverage=0.5, accuracy=1.0, threshold=0.9, tasks=2)], 0.95,
                                     CurvePoint(coverage=0.5, accuracy=1.0, threshold=0.9, tasks=2), say)]
    assert not [w for w in caught if "missing from" in str(w.message)]
    for png in pngs:
        assert Image.open(io.BytesIO(png)).format == "PNG"


def test_the_page_embeds_exactly_the_japanese_characters_it_uses():
    css = fonts.font_face_css("Accuracy of 傷 and 汚れ: 90% ± 3")
    ranges = re.search(r"unicode-range: ([^;]+);", css).group(1)
    assert ranges == "U+308C, U+50B7, U+6C5A"  # れ, 傷, 汚: Latin text and ± keep the page's own fonts
    data = re.search(r"base64,([A-Za-z0-9+/=]+)\)", css).group(1)
    font = TTFont(io.BytesIO(base64.b64decode(data)))
    assert set(font.getBestCmap()) == {0x308C, 0x50B7, 0x6C5A}
    assert len(data) < 20_000  # a few kilobytes, not the 6 MB font
    assert fonts.font_face_css("only ASCII ± Latin-1") == ""
