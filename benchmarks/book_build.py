"""How long the book takes to build: every chapter executed from a clean cache, then the cached rebuild.

    python benchmarks/book_build.py [--source .] [--out DIR] [--json OUT]

Runs ``jupyter-book build SOURCE -W --keep-going --path-output OUT`` twice (the same command as
``scripts/build-book.sh`` and the test suite's ``built_book`` fixture, via ``tests/booktools.py``):

1. into an empty output folder (a temporary one unless ``--out`` names one that does not exist yet),
   so every chapter executes: per-chapter execution times come from the execution cache
   (``_build/.jupyter_cache``, myst-nb's ``execution_seconds``), plus the build's wall time;
2. again into the same folder, with nothing changed: the cached rebuild, which executes nothing.

The developer's own ``_build`` is never touched. Works on whatever chapters ``_toc.yml`` lists.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch

import _common
from _common import conditions, print_table, write_json

sys.path.insert(0, str(_common._ROOT / "tests"))
from booktools import build_book  # noqa: E402  (the test suite's build helper, not a copy of it)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=str(_common._ROOT), help="the book's root with _config.yml and _toc.yml "
                   "(default: this checkout)")
    p.add_argument("--out", default=None, help="build into this new folder and keep it (default: a temporary "
                   "folder, deleted afterwards)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    source = Path(args.source).resolve()
    if not (source / "_config.yml").is_file() or not (source / "_toc.yml").is_file():
        p.error(f"expected _config.yml and _toc.yml in --source, got {source}")
    if args.out is not None and Path(args.out).exists():
        p.error(f"expected --out to be a folder that does not exist yet (a clean cache), got {args.out}")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="book_build_"))
    try:
        clean = build_book(source, out)
        cached = build_book(source, out)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    rows = [[stem, s] for stem, s in clean.times.items()]
    rows.append(["total (chapters executed)", clean.total_seconds])
    rows.append(["whole build, clean cache (wall)", clean.wall_seconds])
    rows.append(["whole build, cached rebuild (wall)", cached.wall_seconds])
    record = {
        "benchmark": "book_build", "source": str(source), **conditions(torch.device("cpu")),
        "chapters": clean.times, "chapters_total_seconds": clean.total_seconds,
        "clean_build_wall_seconds": clean.wall_seconds, "cached_build_wall_seconds": cached.wall_seconds,
        "executed_in_cached_build": cached.executed_now,
        "returncodes": {"clean": clean.returncode, "cached": cached.returncode},
        "warnings": clean.warnings[:50],
    }
    print(f"book build from {source} (threads as the kernels choose; machine: {record['machine']})")
    print_table(["chapter / phase", "seconds"], rows)
    if clean.returncode or cached.returncode:
        print(f"note: the build reported problems (exit {clean.returncode}/{cached.returncode}); "
              f"first warnings: {clean.warnings[:5]}")
    if cached.executed_now:
        print(f"note: the cached rebuild executed again: {cached.executed_now}")
    write_json(args.json, record)
    return record


if __name__ == "__main__":
    main()
