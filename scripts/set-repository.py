#!/usr/bin/env python3
"""Point the book at a GitHub repository: the one setting behind the launch buttons and Colab cells.

The repository is `_config.yml`'s `repository: url/branch`. Jupyter Book builds the launch buttons
("Launch -> Colab") from it; but a chapter opened in Colab runs without the repository, so the
course-setup cell at the top of every chapter carries a copy of the URL and branch to clone, and
the assignments page links each graded notebook to Colab. This script writes the setting into
all of them at once, and checks that they agree.

    python scripts/set-repository.py https://github.com/OWNER/REPO [--branch main]
    python scripts/set-repository.py --check [--expect https://github.com/OWNER/REPO]

`--check` exits with status 1 and lists every place that disagrees with `_config.yml` (or, with
`--expect`, when `_config.yml` names another repository: the GitHub Pages workflow passes the
repository it runs in). Files are rewritten whole or not at all.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BRANCH = re.compile(r"^[A-Za-z0-9._/-]+$")
# the setup cell's line, as it reads in the notebook's code
SETUP_LINE = re.compile(r'COURSE_REPOSITORY, COURSE_BRANCH = "(?P<url>[^"]*)", "(?P<branch>[^"]*)"')
# a Colab link to a notebook of the repository, in the book's Markdown pages
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/(?P<repo>[^/\s)]+/[^/\s)]+)/blob/(?P<branch>[^/\s)]+)/")
CONFIG_URL = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)(\S+)[ \t]*$", re.M)
CONFIG_BRANCH = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+branch:[ \t]*)(\S+)[ \t]*$", re.M)


def read_setting(root: Path = ROOT) -> tuple[str, str]:
    """(url, branch) of `_config.yml`'s `repository` (branch defaults to main)."""
    text = (root / "_config.yml").read_text(encoding="utf-8")
    url, branch = CONFIG_URL.search(text), CONFIG_BRANCH.search(text)
    if url is None:
        raise SystemExit(f"expected a `repository:` block with `url:` in {root / '_config.yml'}, got none")
    return url.group(2), branch.group(2) if branch else "main"


def _chapters(root: Path) -> list[Path]:
    return sorted((root / "book").glob("*.ipynb"))


def _pages(root: Path) -> list[Path]:
    return sorted((root / "book").glob("*.md"))


def _setup_cell(path: Path) -> tuple[dict, dict]:
    """(notebook, its course-setup cell: the first code cell, tagged colab-setup)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if cell is None or "colab-setup" not in cell.get("metadata", {}).get("tags", []):
        raise SystemExit(f"expected {path} to start with a code cell tagged colab-setup, got none")
    return nb, cell


def disagreements(root: Path = ROOT) -> list[str]:
    """Every place whose repository or branch differs from `_config.yml`'s."""
    url, branch = read_setting(root)
    repo = url.removeprefix("https://github.com/")
    found = []
    for path in _chapters(root):
        _, cell = _setup_cell(path)
        m = SETUP_LINE.search("".join(cell["source"]))
        if m is None:
            found.append(f"{path.relative_to(root)}: the setup cell has no COURSE_REPOSITORY line")
        elif (m["url"], m["branch"]) != (url, branch):
            found.append(f"{path.relative_to(root)}: the setup cell clones {m['url']} ({m['branch']}), expected {url} ({branch})")
    for path in _pages(root):
        for m in COLAB_LINK.finditer(path.read_text(encoding="utf-8")):
            if (m["repo"], m["branch"]) != (repo, branch):
                found.append(f"{path.relative_to(root)}: a Colab link to {m['repo']} ({m['branch']}), expected {repo} ({branch})")
    return found


def _write(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (a temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_repository(url: str, branch: str, root: Path = ROOT) -> list[Path]:
    """Write `url` and `branch` into `_config.yml`, every chapter's setup cell and the Colab links
    of the book's pages; return the files changed. Everything is computed before anything is written."""
    url = url.rstrip("/").removesuffix(".git")
    if not GITHUB.match(url):
        raise SystemExit(f"expected a repository URL like https://github.com/OWNER/REPO, got {url!r}")
    if not BRANCH.match(branch):
        raise SystemExit(f"expected a branch name (letters, digits, . _ / -), got {branch!r}")
    repo = url.removeprefix("https://github.com/")
    new: dict[Path, str] = {}

    config = (root / "_config.yml").read_text(encoding="utf-8")
    read_setting(root)  # fails clearly without a repository block
    config = CONFIG_URL.sub(lambda m: m.group(1) + url, config, count=1)
    if CONFIG_BRANCH.search(config):
        config = CONFIG_BRANCH.sub(lambda m: m.group(1) + branch, config, count=1)
    else:
        config = CONFIG_URL.sub(lambda m: f"{m.group(0)}\n  branch: {branch}", config, count=1)
    new[root / "_config.yml"] = config

    for path in _chapters(root):
        nb, cell = _setup_cell(path)
        source = "".join(cell["source"])
        if not SETUP_LINE.search(source):
            raise SystemExit(f"expected the setup cell of {path} to hold a COURSE_REPOSITORY line, got none")
        source = SETUP_LINE.sub(f'COURSE_REPOSITORY, COURSE_BRANCH = "{url}", "{branch}"', source)
        cell["source"] = source.splitlines(keepends=True)
        new[path] = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    for path in _pages(root):
        text = path.read_text(encoding="utf-8")
        new[path] = COLAB_LINK.sub(f"https://colab.research.google.com/github/{repo}/blob/{branch}/", text)

    changed = [p for p, text in new.items() if p.read_text(encoding="utf-8") != text]
    for path in changed:
        _write(path, new[path])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="https://github.com/OWNER/REPO")
    parser.add_argument("--branch", default=None, help="the branch Colab opens and the setup cell clones (default: keep)")
    parser.add_argument("--check", action="store_true", help="only check that every place agrees with _config.yml")
    parser.add_argument("--expect", help="with --check: the repository _config.yml must name")
    args = parser.parse_args(argv)
    if args.check:
        found = disagreements()
        url, branch = read_setting()
        if args.expect and args.expect.rstrip("/") != url:
            found.insert(0, f"_config.yml's repository.url is {url}, expected {args.expect} "
                            f"(run: python scripts/set-repository.py {args.expect} --branch {branch})")
        for line in found:
            print(line, file=sys.stderr)
        if not found:
            print(f"every launch button, setup cell and Colab link uses {url} ({branch})")
        return 1 if found else 0
    if not args.url:
        parser.error("expected a repository URL (or --check), got neither")
    changed = set_repository(args.url, args.branch or read_setting()[1])
    for path in changed:
        print(f"updated {path.relative_to(ROOT)}")
    if not changed:
        print("nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
