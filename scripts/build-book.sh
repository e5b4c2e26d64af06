#!/usr/bin/env bash
# The README's book command: set up .venv, then execute and build the book into _build/html.
# Chapters run once and are cached (_build/.jupyter_cache); a rebuild with nothing changed is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
exec jupyter-book build . -W --keep-going "$@"
