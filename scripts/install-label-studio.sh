#!/usr/bin/env bash
# Install Label Studio into its own virtual environment for the integration tests.
#
# Label Studio pins many packages (Django, DRF, boto, ...), so it never shares the project's .venv.
# Idempotent: a venv that already holds exactly LS_VERSION is left alone; the check reads pip's
# dist-info directory instead of importing label_studio (an import pulls in Django and takes seconds).
#
# Usage: scripts/install-label-studio.sh          (from anywhere; paths are relative to the repo root)
# Env:   LS_VENV (default .venvs-ls), LS_VERSION (default 1.23.2), PYTHON (default python3)
set -euo pipefail

cd "$(dirname "$0")/.."

LS_VENV="${LS_VENV:-.venvs-ls}"
LS_VERSION="${LS_VERSION:-1.23.2}"
PYTHON="${PYTHON:-python3}"

installed() {
    [ -x "$LS_VENV/bin/python" ] && [ -x "$LS_VENV/bin/label-studio" ] \
        && compgen -G "$LS_VENV/lib/python3*/site-packages/label_studio-${LS_VERSION}.dist-info/METADATA" >/dev/null
}

if installed; then
    exit 0
fi

echo "Installing label-studio==${LS_VERSION} into ${LS_VENV} (takes a few minutes the first time)..." >&2
if [ ! -x "$LS_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$LS_VENV"
fi
"$LS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$LS_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "label-studio==${LS_VERSION}"

if ! installed; then
    echo "label-studio==${LS_VERSION} is not in ${LS_VENV} after pip install" >&2
    exit 1
fi
