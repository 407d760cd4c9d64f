#!/usr/bin/env bash
# Make sure headless Chromium is there for the report's end-to-end test, which opens report.html and takes a
# screenshot: Debian's chromium package (no browser download at run time). It brings no CJK font, and none is
# installed here on purpose: the report must render Japanese with the font it embeds.
set -euo pipefail

command -v chromium >/dev/null 2>&1 && exit 0
echo "Installing chromium..." >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium is still missing" >&2; exit 1; }
