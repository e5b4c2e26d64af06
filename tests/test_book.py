"""The built book: zero-warning build, no error outputs, time budgets, execution cache, solutions
never published, and every page checked in headless Chromium (math, images + alt text, console,
no request outside the site). The whole book is built once per session by `built_book`
(tests/conftest.py); a tiny probe book exercises the same machinery in seconds.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from booktools import REPO, build_book, check_pages, toc_files

CHAPTER_BUDGET_S = 270  # 3 minutes per chapter + 50%
TOTAL_BUDGET_S = 30 * 60  # 20 minutes + 50%
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS")


def _site_pages(html_dir: Path) -> list[str]:
    """Every HTML page of the site (not the theme's template fragments under _static/)."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).parts[0].startswith("_")
    )


def _is_notebook(doc: str) -> bool:
    """A toc entry that Jupyter Book executes: an .ipynb, or a MyST notebook (.md with a kernelspec)."""
    if (REPO / f"{doc}.ipynb").exists():
        return True
    md = REPO / f"{doc}.md"
    if not md.exists():
        return False
    text = md.read_text(encoding="utf-8")
    return text.startswith("---") and "kernelspec" in text.split("---", 2)[1]


def _chapters() -> list[str]:
    """Executed toc documents (graded notebooks under notebooks/ are shown, not executed)."""
    return [d for d in toc_files(REPO) if _is_notebook(d) and not d.startswith("notebooks/")]


# ------------------------------------------------------------------ the whole book --------


@pytest.mark.slow
def test_build_succeeds_with_zero_warnings(built_book):
    assert built_book.warnings == [], "\n".join(built_book.warnings)
    assert built_book.returncode == 0, built_book.log[-4000:]
    for doc in toc_files(REPO):
        assert (built_book.html_dir / f"{doc}.html").is_file(), f"no page for toc entry {doc}"


@pytest.mark.slow
def test_every_chapter_executed_and_no_output_is_an_error(built_book):
    for doc in _chapters():
        stem = Path(doc).name
        assert stem in built_book.times, f"{doc} was not executed (no execution-cache record)"
        nb = built_book.executed(stem)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", (
                    f"{doc} cell {i}: {out.get('ename')}: {out.get('evalue')}"
                )


@pytest.mark.slow
def test_chapter_times_within_budget(built_book):
    for stem, seconds in built_book.times.items():
        print(f"execution time {stem}: {seconds:.1f} s")
    print(f"execution time total: {built_book.total_seconds:.1f} s")
    slow = {s: t for s, t in built_book.times.items() if t > CHAPTER_BUDGET_S}
    assert not slow, f"chapters over {CHAPTER_BUDGET_S} s: {slow}"
    assert built_book.total_seconds <= TOTAL_BUDGET_S


@pytest.mark.slow
def test_rebuild_with_nothing_changed_takes_every_notebook_from_the_cache(built_book, tmp_path):
    # a fresh Sphinx environment that re-reads every page, with the first build's execution cache
    shutil.copytree(built_book.build_dir / ".jupyter_cache", tmp_path / "_build" / ".jupyter_cache")
    again = build_book(REPO, tmp_path)
    print(f"rebuild from the execution cache: {again.wall_seconds:.1f} s wall")
    assert again.returncode == 0, again.log[-4000:]
    assert again.executed_now == [], f"re-executed: {again.executed_now}"
    cached = re.findall(r"Using cached notebook", again.log)
    assert len(cached) == len(_chapters())


@pytest.mark.slow
def test_solutions_are_never_published(built_book):
    html = built_book.html_dir
    assert not [p for p in html.rglob("*") if "solutions" in p.relative_to(html).parts]
    for path in html.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".ipynb", ".md", ".txt", ".py", ".json", ".js"}:
            if "_vendor" in path.parts or path.relative_to(html).parts[:2] in {("_static", "mathjax"), ("_static", "html-manager")}:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for marker in SOLUTION_MARKERS:
                assert marker not in text, f"{marker!r} published in {path.relative_to(html)}"


@pytest.mark.slow
def test_graded_notebooks_are_the_unexecuted_student_versions(built_book):
    graded = sorted(p.relative_to(REPO).with_suffix("").as_posix() for p in (REPO / "notebooks").glob("*/*.ipynb"))
    listed = [d for d in toc_files(REPO) if d.startswith("notebooks/")]
    assert sorted(listed) == graded, "the toc's Graded notebooks part must list exactly notebooks/*/*.ipynb"
    for doc in graded:
        stem = Path(doc).name
        assert stem not in built_book.times, f"{doc} was executed; graded notebooks are shown, not run"
        page = (built_book.html_dir / f"{doc}.html").read_text(encoding="utf-8")
        assert "NotImplementedError" in page, f"{doc}: the student stubs are not shown"
        download = built_book.html_dir / "_sources" / f"{doc}.ipynb"
        assert download.is_file(), f"{doc}: no downloadable notebook"


@pytest.mark.slow
def test_every_page_in_headless_chromium(built_book):
    pages = _site_pages(built_book.html_dir)
    assert "book/intro.html" in pages
    problems = {page: found for page, found in check_pages(built_book.html_dir, pages).items() if found}
    assert not problems, json.dumps(problems, indent=1)


# ------------------------------------------------------------------ the checks themselves -


def test_browser_check_reports_each_kind_of_problem(tmp_path):
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
    (tmp_path / "dot.png").write_bytes(png)
    pages = {
        "good.html": '<p>fine</p><img src="dot.png" alt="A dot">',
        "noalt.html": '<img src="dot.png">',
        "filealt.html": '<img src="dot.png" alt="dot.png">',
        "broken.html": '<img src="missing.png" alt="Missing">',
        "outside.html": '<script src="https://cdn.example.org/x.js"></script>',
        "console.html": "<script>console.error('boom')</script>",
        "math.html": '<span class="math">\\(x^2\\)</span>',
    }
    for name, body in pages.items():
        (tmp_path / name).write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    found = check_pages(tmp_path, sorted(pages))
    assert found["good.html"] == []
    assert any("no alt text" in p for p in found["noalt.html"])
    assert any("file name as alt" in p for p in found["filealt.html"])
    assert any("did not load" in p for p in found["broken.html"])
    assert any("outside the site: https://cdn.example.org/x.js" in p for p in found["outside.html"])
    assert any("console error: boom" in p for p in found["console.html"])
    assert any("MathJax did not load" in p for p in found["math.html"])


_PROBE_CELLS = [
    ("markdown", "# Probe\n\nInline math $a^2 + b^2$ and a glued number {glue:text}`acc:.2f`.", {}),
    ("code", "import time\nimport numpy as np\nfrom myst_nb import glue\ntime.sleep(0.5)\n"
             "glue('acc', 0.9312, display=False)\nglue('npval', np.float64(1.5), display=False)\n"
             "glue('name', 'lstm', display=False)\nglue('pairs', {'a': [1, 2.5]}, display=False)", {}),
    ("code", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 2, 3])\n"
             "ax.set_title('Rising'); ax.set_xlabel('x'); ax.set_ylabel('y')\nplt.show()",
     {"mystnb": {"image": {"alt": "A line rising from 1 to 3"}}}),
    ("code", "import ipywidgets as w\nw.IntSlider(value=3, description='T')", {}),
]


@pytest.mark.slow
def test_probe_book_glue_times_cache_and_offline_pages(tmp_path):
    """A one-chapter copy of the book: glue read back, time recorded, cache hit on rebuild, and
    its page (math, an alt-texted matplotlib figure, an ipywidgets slider) clean offline."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "book", src / "book", ignore=shutil.ignore_patterns("*.ipynb"))
    shutil.copy(REPO / "_config.yml", src / "_config.yml")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source, meta in _PROBE_CELLS:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.metadata.update(meta)
        nb.cells.append(cell)
    nbformat.write(nb, src / "book" / "99_probe.ipynb")
    # the real front pages link to every chapter and graded notebook, which the probe lacks
    (src / "book" / "intro.md").write_text("# Probe book\n\nSee {doc}`notation` and {doc}`99_probe`.\n")
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        "      - file: book/notation\n      - file: book/99_probe\n"
    )
    book = build_book(src, tmp_path / "out")
    assert book.returncode == 0, "\n".join(book.warnings) or book.log[-3000:]
    assert book.executed_now == ["99_probe"]
    assert 0.5 <= book.times["99_probe"] < CHAPTER_BUDGET_S
    assert book.glue("99_probe") == {"acc": 0.9312, "npval": 1.5, "name": "lstm", "pairs": {"a": [1, 2.5]}}
    assert "0.93" in (book.html_dir / "book" / "99_probe.html").read_text(encoding="utf-8")
    problems = check_pages(book.html_dir, ["book/99_probe.html", "book/notation.html", "index.html"])
    assert problems == {"book/99_probe.html": [], "book/notation.html": [], "index.html": []}

    # nothing changed: every page is read again (fresh Sphinx environment), no notebook runs
    shutil.rmtree(book.html_dir)
    shutil.rmtree(book.build_dir / ".doctrees")
    again = build_book(src, tmp_path / "out")
    assert again.returncode == 0 and again.executed_now == []
    assert "Using cached notebook" in again.log
