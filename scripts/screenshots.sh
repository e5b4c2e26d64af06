#!/usr/bin/env bash
# Render every page of the built book to a full-page PNG in headless Chromium, so anyone reviewing
# a change can look at the site as a reader sees it.
#   bash scripts/screenshots.sh                 # _build/html -> _build/screenshots/*.png
#   bash scripts/screenshots.sh --site DIR --out DIR --width 1280 --only 07_sampling
# Build the book first (bash scripts/build-book.sh). Needs Chromium (/usr/bin/chromium, or $CHROMIUM).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "expected the course's .venv (run bash scripts/build-book.sh first), got none" >&2; exit 1; }
exec "$PY" scripts/screenshots.py "$@"
