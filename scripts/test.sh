#!/usr/bin/env bash
# The README's test command: set up .venv, install what the tests need, run the whole suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_vocab.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
# The built-book check opens every page in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "The book's browser test needs Chromium: run 'sudo apt-get install chromium' and try again." >&2
    exit 1
  fi
fi
exec python -m pytest "$@"
