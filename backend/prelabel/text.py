"""Strings from outside (MLLM answers, task data, Label Studio values) made fit to keep, cache, log and send back.

Three things go wrong with such strings, and each has broken something real:
- a lone surrogate (from a JSON escape such as "\\ud800") cannot be encoded as UTF-8: SQLite, PostgreSQL, the
  MLLM cache and log files fail on it, so one bad candidate failed a whole job;
- control characters forge log lines (a newline, an escape sequence) and line separators (U+2028) break the
  vocabulary's YAML export;
- lengths: a 10 MB data URL became a 20 MB log line and evidence row, a 5,000-character "word" a synonym.

`clean` repairs the first two and caps the length for a kind of string; `quote` shortens a value that is only
mentioned (in a log line, an error message) to something a person can read on one line.
"""

from __future__ import annotations

import re

# Kinds of strings and their length caps (characters). A name: a candidate or label an MLLM or reviewer wrote;
# a sentence: a classification or a stage-2 reply; a description: the MLLM's free description; a message: an
# error or log text; a value: a task value (a URL, a path) quoted inside a message.
NAME, SENTENCE, DESCRIPTION, MESSAGE, VALUE = "name", "sentence", "description", "message", "value"
LIMITS = {NAME: 200, SENTENCE: 1000, DESCRIPTION: 4000, MESSAGE: 1000, VALUE: 200}
ONE_LINE = frozenset({NAME, VALUE})  # kinds that never span lines

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")  # each becomes "\n"
# Control characters (C0 and C1) but newline and tab; bidirectional overrides and isolates, which reorder what a
# reader sees ("Trojan source"); the invisible BOM.
_DROPPED = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")
ELLIPSIS = "…"


def clean(text: object, kind: str = SENTENCE) -> str:
    """A string safe to store and print: lone surrogates become U+FFFD, line separators a newline (a space in
    one-line kinds), other control characters and bidi overrides are dropped, and the kind's length cap holds
    (cut with an ellipsis)."""
    value = text if isinstance(text, str) else str(text)
    limit = LIMITS[kind]
    value = value[:4 * limit + 16]  # cleaning only shortens: a 10 MB value is never processed whole
    value = _DROPPED.sub("", _LINE_BREAKS.sub("\n", _SURROGATE.sub("\ufffd", value)))
    if kind in ONE_LINE:
        value = " ".join(value.split())
    return cut(value, limit)


def fits(text: str, kind: str) -> bool:
    """Within the kind's cap (for strings that are dropped rather than cut: a cut name is a wrong name)."""
    return len(text) <= LIMITS[kind]


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def quote(value: object, limit: int = LIMITS[VALUE]) -> str:
    """A value mentioned in a log line or message: one clean line and, when long, its start and its length
    ("data:image/png;base64,iVBO… (10485782 characters)"), so a message stays a line whatever was posted."""
    text = value if isinstance(value, str) else repr(value)
    shown = " ".join(clean(text[:limit], MESSAGE).split())
    return shown if len(text) <= limit else f"{shown}{ELLIPSIS} ({len(text)} characters)"
