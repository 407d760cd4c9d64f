"""A Japanese font that travels with the report, so labels such as クサギカメムシ render on a fresh machine.

The font is IPAexGothic, which the matplotlib-fontja package ships (a PyPI package: no system font needed).
Plots use it as matplotlib's fallback for glyphs DejaVu Sans lacks; the HTML page embeds a subset of it with
exactly the characters the page uses (a few kilobytes), so it renders the same offline and anywhere.
"""

from __future__ import annotations

import base64
import functools
import io
from importlib import metadata
from pathlib import Path

FONT_FILE = "ipaexg.ttf"
HTML_FAMILY = "Prelabel CJK"
FIRST_CJK = 0x2E80  # CJK radicals, then kana, ideographs, Hangul, full-width forms


@functools.cache
def cjk_font_path() -> Path:
    """Found through the package's file list, not by importing it: its import changes matplotlib's global
    font settings for every later plot in the process."""
    for file in metadata.files("matplotlib-fontja") or []:
        if file.name == FONT_FILE:
            return Path(str(file.locate()))
    raise FileNotFoundError(f"{FONT_FILE} not found in the matplotlib-fontja package: reinstall it")


def font_face_css(text: str) -> str:
    """An @font-face rule embedding the font's glyphs for the CJK characters of `text` (WOFF, base64), or ""
    when there are none.

    Pages name HTML_FAMILY first: Chromium resolves text whose fonts are listed after a web font that is still
    loading with the system's fallback (boxes, where it has no CJK font) and may keep that rendering. Its
    unicode-range holds exactly the subset's characters, so every other character goes to the next family."""
    from fontTools import subset

    characters = "".join(sorted({c for c in text if ord(c) >= FIRST_CJK}))
    if not characters:
        return ""
    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed: needs no extra package, unlike WOFF2's brotli
    options.drop_tables += ["DSIG"]
    font = subset.load_font(str(cjk_font_path()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    buffer = io.BytesIO()
    subset.save_font(font, buffer, options)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    ranges = ", ".join(f"U+{ord(c):X}" for c in characters)
    return (f"@font-face {{ font-family: '{HTML_FAMILY}'; src: url(data:font/woff;base64,{data}) format('woff'); "
            f"unicode-range: {ranges}; }}")
