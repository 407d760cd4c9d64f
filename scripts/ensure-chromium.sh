#!/usr/bin/env bash
# Headless Chromium for the browser test of the labeling page (tests/test_reviewer_page.py): Debian's chromium
# package, driven by Playwright (a test extra; its bundled driver needs no browser download), and a Japanese font
# so that the screenshots of Japanese-valued configs show text, not boxes. Installs only what is missing.
set -euo pipefail

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
[ -x "${PRELABEL_TEST_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=ja 2>/dev/null)" ]; then
    missing+=(fonts-ipafont-gothic)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing ${missing[*]}..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
