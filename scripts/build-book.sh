#!/usr/bin/env bash
# The README's book command: set up .venv, then execute and build the book into _build/html.
# Chapters run once and are cached (_build/.jupyter_cache); a rebuild with nothing changed is quick.
# Ends with each notebook's execution time (from the execution cache), so the log has the timings.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
rc=0
jupyter-book build . -W --keep-going "$@" || rc=$?
python - <<'PY'
import sys
sys.path.insert(0, "tests")
from booktools import _cache_records
records = _cache_records(__import__("pathlib").Path("_build"))
print("notebook execution times (execution cache):")
for stem, (_, _, seconds) in records.items():
    print(f"  {stem:40s} {seconds:8.1f} s")
print(f"  {'total':40s} {sum(r[2] for r in records.values()):8.1f} s")
PY
exit $rc
