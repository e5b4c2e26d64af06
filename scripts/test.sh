#!/usr/bin/env bash
# The README's test command: set up .venv, install what the tests need, run the whole suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_vocab.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh

# The built-book check opens every page in headless Chromium; tests/booktools.py launches the binary
# named by $CHROMIUM. Set CHROMIUM yourself to use another Chromium/Chrome. Otherwise: the system's
# `chromium`; as root, Debian's package; without root, Playwright's own Chromium, downloaded once into
# ~/.cache/ms-playwright (or $PLAYWRIGHT_BROWSERS_PATH) with no root needed.
find_chromium() {
  if [ -n "${CHROMIUM:-}" ]; then
    return 0
  fi
  if command -v chromium >/dev/null 2>&1; then
    CHROMIUM=$(command -v chromium)
  elif [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    CHROMIUM=$(command -v chromium)
  else
    echo "Chromium is not installed and this is not root: using Playwright's own Chromium" \
         "(python -m playwright install chromium)." >&2
    if ! python -m playwright install chromium >&2; then
      echo "The book's browser test needs Chromium, and Playwright could not download its own." \
           "Install one (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome, and try again." >&2
      exit 1
    fi
    CHROMIUM=$(python -c 'from playwright.sync_api import sync_playwright
with sync_playwright() as p: print(p.chromium.executable_path)')
  fi
}
find_chromium
export CHROMIUM
# a browser that cannot start (not executable, missing system libraries) is named here, not deep in a test
if ! "$CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1; then
  echo "The book's browser test cannot start Chromium at $CHROMIUM." \
       "If shared libraries are missing, an administrator can add them with" \
       "'python -m playwright install-deps chromium' (or 'apt-get install chromium')." >&2
  exit 1
fi
exec python -m pytest "$@"
