"""The built book: zero-warning build, no error outputs, time budgets, execution cache, solutions
never published, and every page checked in headless Chromium as a reader meets it (math, images +
alt text, console, no request outside the site, no Markdown syntax in the text, results tables
rendered as tables, headings in source order with content under them, no error output), every
figure checked for overlapping texts, the course-setup cell collapsed, and the launch buttons and
Colab setup cell pointing at _config.yml's repository. The whole book is built once per session
by `built_book` (tests/conftest.py); a tiny probe book exercises the same machinery in seconds.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from booktools import (REPO, build_book, check_pages, graded_answers, heading_order_problems, inspect_pages,
                       source_headings, students_edition_config, toc_files)
from figure_overlap import cell_sha1, overlaps
from nbgrader_course import html_text, leaked_lines

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


@pytest.fixture(scope="module")
def students_book(built_book, tmp_path_factory):
    """The students' edition (``hide_graded_answers: true``, book/_ext/graded_answers.py), built as a
    rebuild from the first build's execution cache: a fresh Sphinx environment that re-reads every page
    and executes nothing (about the cost of a Sphinx-only build), so one rebuild serves both the cache
    check and the edition checks."""
    out = tmp_path_factory.mktemp("students")
    shutil.copytree(built_book.build_dir / ".jupyter_cache", out / "_build" / ".jupyter_cache")
    config = students_edition_config(REPO, out / "_config-students.yml")
    return build_book(REPO, out, extra_args=("--config", str(config)))


@pytest.mark.slow
def test_rebuild_with_no_code_changed_takes_every_notebook_from_the_cache(students_book):
    # the students' edition changes a Sphinx setting, not a notebook: nothing may run again
    print(f"rebuild from the execution cache (students' edition): {students_book.wall_seconds:.1f} s wall")
    assert students_book.returncode == 0, "\n".join(students_book.warnings) or students_book.log[-4000:]
    assert students_book.executed_now == [], f"re-executed: {students_book.executed_now}"
    cached = re.findall(r"Using cached notebook", students_book.log)
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


@pytest.fixture(scope="module")
def page_reports(built_book):
    """Every page of the built site opened once in headless Chromium: page -> PageReport."""
    return inspect_pages(built_book.html_dir, _site_pages(built_book.html_dir))


@pytest.mark.slow
def test_every_page_in_headless_chromium(page_reports):
    assert "book/intro.html" in page_reports
    problems = {page: r.problems for page, r in page_reports.items() if r.problems}
    print(f"{len(page_reports)} pages opened")
    assert not problems, json.dumps(problems, indent=1)


_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)


def _tables_in_outputs(nb: nbformat.NotebookNode) -> int:
    """Results tables a notebook displayed: Markdown outputs with a table, HTML outputs with <table>."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            md, html = data.get("text/markdown", ""), data.get("text/html", "")
            n += len(_TABLE_SEPARATOR.findall(md if isinstance(md, str) else "".join(md)))
            n += (html if isinstance(html, str) else "".join(html)).count("<table")
    return n


@pytest.mark.slow
def test_results_tables_render_as_tables(built_book, page_reports):
    """Each table a chapter displays (Markdown or HTML output) is a <table> on its page."""
    shown = {}
    for doc in _chapters():
        expected = _tables_in_outputs(built_book.executed(Path(doc).name))
        report = page_reports[f"{doc}.html"]
        shown[doc] = (expected, report.output_tables, report.tables)
        print(f"{doc}: {expected} tables displayed, {report.output_tables} <table> in outputs, "
              f"{report.tables} <table> on the page")
    assert sum(e for e, _, _ in shown.values()) > 0, "no chapter displays a table: the count is broken"
    missing = {doc: counts for doc, counts in shown.items() if counts[1] < counts[0]}
    assert not missing, f"displayed tables that are not <table> elements (displayed, rendered, page): {missing}"


@pytest.mark.slow
def test_headings_appear_in_source_order(page_reports):
    """Every page's source headings are on the page, in the source's order (content under each
    heading is checked with the other page problems)."""
    problems = {}
    for doc in toc_files(REPO):
        source = next((REPO / f"{doc}{ext}" for ext in (".ipynb", ".md") if (REPO / f"{doc}{ext}").exists()))
        page = [text for _, text, _ in page_reports[f"{doc}.html"].headings]
        found = heading_order_problems(source_headings(source), page)
        if found:
            problems[doc] = found + [f"page headings: {page}"]
    assert not problems, json.dumps(problems, indent=1)


def _image_cells(nb: nbformat.NotebookNode) -> list[tuple[int, str]]:
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and any(
        key.endswith("image/png") for out in cell.get("outputs", []) for key in out.get("data", {}))]


@pytest.mark.slow
def test_no_figure_has_overlapping_texts(built_book):
    """Every figure a chapter shows was laid out without any two texts (titles, labels, tick
    labels, legend entries) overlapping (tests/figure_overlap.py, run in the chapters' kernels)."""
    checks = built_book.figure_checks()
    problems, unchecked, n = {}, [], 0
    for doc in _chapters():
        for i, source in _image_cells(built_book.executed(Path(doc).name)):
            n += 1
            records = checks.get(cell_sha1(source))
            if records is None:
                unchecked.append(f"{doc} cell {i}")
            elif any(records):
                problems[f"{doc} cell {i}"] = sorted({p for r in records for p in r})
    print(f"{n} figure cells checked")
    assert n > 0
    assert not unchecked, (f"figures drawn without the overlap check (cached by a build outside the tests? "
                           f"delete {built_book.build_dir / '.jupyter_cache'}): {unchecked}")
    assert not problems, json.dumps(problems, indent=1)


def _repository() -> tuple[str, str, str]:
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"], config["repository"].get("branch", "main"), config["launch_buttons"]["colab_url"]


@pytest.mark.slow
def test_setup_cell_is_collapsed_and_run_and_launch_buttons_use_the_configured_repository(built_book):
    url, branch, colab = _repository()
    owner_repo = url.removeprefix("https://github.com/")
    for doc in _chapters():
        stem = Path(doc).name
        setup = next(c for c in built_book.executed(stem).cells if c.cell_type == "code")
        assert "colab-setup" in setup.metadata.get("tags", []), f"{doc}: the first code cell is not the setup cell"
        assert setup.execution_count is not None, f"{doc}: the setup cell did not run"
        assert f'COURSE_REPOSITORY, COURSE_BRANCH = "{url}", "{branch}"' in setup.source, (
            f"{doc}: the setup cell does not clone _config.yml's repository {url} ({branch}); "
            "run scripts/set-repository.py")
        html = (built_book.html_dir / f"{doc}.html").read_text(encoding="utf-8")
        cell = re.search(r'<div class="cell tag_colab-setup[^"]*"[^>]*>(.*?)<div class="cell ', html, re.S)
        assert cell, f"{doc}: no setup cell on the page"
        assert "tag_hide-input" in cell.group(0), f"{doc}: the setup cell is not collapsed"
        assert re.search(r"<details[^>]*>\s*<summary", cell.group(1)) and "<details open" not in cell.group(1), (
            f"{doc}: the setup cell's code is not inside a closed <details>")
        expected = f"{colab}/github/{owner_repo}/blob/{branch}/{doc}.ipynb"
        assert f'href="{expected}"' in html, f"{doc}: no Colab launch button to {expected}"
        for link in re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html):
            assert link == expected, f"{doc}: a Colab link to {link}, expected {expected}"
        binder = f"/v2/gh/{owner_repo}/{branch}?urlpath=lab/tree/{doc}.ipynb"
        assert binder in html, f"{doc}: no Binder launch button to {binder}"


# ------------------------------------------------------------------ the two editions ------

_LEFT_OUT = "left out of this edition of the book"
_PUBLISHED = {".html", ".ipynb", ".md", ".txt", ".py", ".json", ".js"}


def _graded_blocks() -> dict[str, list[list[str]]]:
    """doc -> the sources of the code cells of each graded-answer block in its source notebook."""
    blocks: dict[str, list[list[int]]] = {}
    for doc in _chapters():
        cells, inside = nbformat.read(REPO / f"{doc}.ipynb", as_version=4).cells, None
        for i, cell in enumerate(cells):
            if cell.cell_type == "markdown" and "{solution-start}" in cell.source and "graded-answer" in cell.source:
                inside = []
            elif inside is not None and cell.cell_type == "markdown" and "{solution-end}" in cell.source:
                blocks.setdefault(doc, []).append(inside)
                inside = None
            elif inside is not None and cell.cell_type == "code":
                inside.append(cell.source)
    return blocks


def _block_lines(built_book, doc: str, sources: list[str]) -> set[str]:
    """What a graded-answer block shows: its code and its text outputs, as stripped lines of 20+ characters."""
    executed = {cell.source: cell for cell in built_book.executed(Path(doc).name).cells if cell.cell_type == "code"}
    lines = set()
    for source in sources:
        texts = [source] + [o.get("text", "") for o in executed[source].get("outputs", [])]
        lines |= {line.strip() for text in texts for line in text.splitlines() if len(line.strip()) >= 20}
    return lines


def _published_texts(html_dir: Path) -> dict[str, str]:
    """Every text file of the site a reader can open (pages as their visible text), vendored assets excluded."""
    texts = {}
    for path in html_dir.rglob("*"):
        rel = path.relative_to(html_dir)
        if not path.is_file() or path.suffix not in _PUBLISHED or rel.parts[:2] in {("_static", "mathjax"),
                                                                                      ("_static", "html-manager")}:
            continue
        texts[rel.as_posix()] = html_text(path) if path.suffix == ".html" else path.read_text(encoding="utf-8",
                                                                                              errors="replace")
    return texts


def _leaks(texts: dict[str, str], answers: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """file -> graded function -> the lines of its answer the file shows, where it shows two or more of its
    lines of 16 characters or more (short lines such as ``loss.backward()`` or ``state = None`` turn up in any
    training loop, and chapter 6 teaches ``state = detach_state(state)`` on its own). Lines the released
    student notebooks show (signatures, docstrings, visible tests) are no secret."""
    shown = [nbformat.read(p, as_version=4) for p in sorted((REPO / "notebooks").glob("*/*.ipynb"))]
    secrets = {f: {line for line in lines if len(line) >= 16} for f, lines in answers.items()}
    found = {}
    for name, text in texts.items():
        per_function = {f: leaked_lines(text, lines, shown) for f, lines in secrets.items()}
        per_function = {f: lines for f, lines in per_function.items() if len(lines) >= 2}
        if per_function:
            found[name] = per_function
    return found


@pytest.mark.slow
def test_full_edition_has_every_answer_collapsed_and_shows_the_graded_answers(built_book, page_reports):
    blocks = _graded_blocks()
    assert set(blocks) == {"book/02_cell_by_hand", "book/02b_backward_by_hand", "book/03_nn_lstm"}, blocks
    for doc in _chapters():
        solutions = page_reports[f"{doc}.html"].solutions
        graded = [s for s in solutions if "graded-answer" in s["classes"].split()]
        source = nbformat.read(REPO / f"{doc}.ipynb", as_version=4)
        source_text = "\n".join(c.source for c in source.cells if c.cell_type == "markdown")
        n_questions = len(re.findall(r"^:label: sc", source_text, re.M))
        assert len(solutions) == n_questions + len(blocks.get(doc, [])), (doc, len(solutions), n_questions)
        assert len(graded) == len(blocks.get(doc, [])), doc
        opened = [s["id"] for s in solutions if not s["collapsed"]]
        assert not opened, f"{doc}: answers open before the reader asks: {opened}"
        numbers = re.findall(r'class="caption-number">Exercise (\d+) <', (built_book.html_dir / f"{doc}.html")
                             .read_text(encoding="utf-8"))
        assert numbers == [str(k) for k in range(1, n_questions + 1)], f"{doc}: exercises numbered {numbers}"
        page = html_text(built_book.html_dir / f"{doc}.html")
        for sources in blocks.get(doc, []):
            missing = [line for line in _block_lines(built_book, doc, sources) if line not in page]
            assert not missing, f"{doc}: a graded-answer block is not on the page: {missing[:3]}"
    # the leak detector used on the students' edition fires here: chapter 2 shows the package's lstm_cell step,
    # chapter 2b the package's lstm_step_backward and lstm_backward (the `backward` notebook's answers)
    leaks = _leaks({f"book/{doc}.html": html_text(built_book.html_dir / f"book/{doc}.html")
                    for doc in ("02_cell_by_hand", "02b_backward_by_hand")}, graded_answers())
    assert "lstm_cell" in leaks.get("book/02_cell_by_hand.html", {}), leaks
    assert {"lstm_step_backward", "lstm_backward"} <= set(leaks.get("book/02b_backward_by_hand.html", {})), leaks


@pytest.mark.slow
def test_students_edition_publishes_no_graded_answer(built_book, students_book):
    assert students_book.warnings == [], "\n".join(students_book.warnings)
    html = students_book.html_dir
    texts = _published_texts(html)
    leaks = _leaks(texts, graded_answers())
    assert not leaks, json.dumps(leaks, indent=1)
    # what the released student notebooks show (backward's setup cell gives the forward step that chapter 2b's
    # block prints next to the answer) is no secret
    released = "\n".join(cell.source for p in (REPO / "notebooks").glob("*/*.ipynb")
                          for cell in nbformat.read(p, as_version=4).cells)
    for doc, block_list in _graded_blocks().items():
        shown = [name for name, text in texts.items() for sources in block_list
                 for line in _block_lines(built_book, doc, sources) if line in text and line not in released]
        assert not shown, f"{doc}: a graded-answer block is published in {sorted(set(shown))}"
        page = html_text(html / f"{doc}.html")
        assert page.count(_LEFT_OUT) == len(block_list), f"{doc}: the page does not say what was left out"
        download = json.loads((html / "_sources" / f"{doc}.ipynb").read_text(encoding="utf-8"))
        assert sum(_LEFT_OUT in "".join(c["source"]) for c in download["cells"]) == len(block_list), doc
    # the self-check answers stay: same number of exercises answered on every chapter page
    for doc in _chapters():
        full = (built_book.html_dir / f"{doc}.html").read_text(encoding="utf-8")
        students = (html / f"{doc}.html").read_text(encoding="utf-8")
        answers = lambda page: len(re.findall(r'class="solution dropdown admonition"', page))
        assert answers(students) == answers(full) > 0, doc


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
        # what a reader trips over; code and program output may hold any characters
        "clean_text.html": "<article><section><h1>T</h1><p>a table:</p><table><tr><td>1</td></tr></table>"
                           "<pre>| a |\n|---|\n**x** `y` $$</pre><p>x <code>`y`</code></p></section></article>",
        "pipes.html": "<article><p>| model | T=16 | |\u2014|\u2014| | lstm | 3 |</p></article>",
        "bold.html": "<article><p>the **best** model</p></article>",
        "ticks.html": "<article><li>call `fit` first</li></article>",
        "dollars.html": "<article><p>$$x^2$$</p></article>",
        "link.html": "<article><p>see [the guide](guide.md)</p></article>",
        "texttable.html": '<article><div class="cell_output"><pre>| a | b |\n|---|---|\n| 1 | 2 |</pre></div></article>',
        "traceback.html": '<article><div class="cell_output"><div class="output traceback"><pre>'
                          "Traceback (most recent call last):\nValueError: no</pre></div></div></article>",
        "stderr.html": '<article><div class="cell_output"><div class="output stderr"><pre>'
                       "/x.py:3: UserWarning: careful</pre></div></div></article>",
        "empty_heading.html": "<article><section><h1>T</h1><p>text</p><section><h2>Empty</h2></section>"
                              "<section><h2>Full</h2><p>x</p></section></section></article>",
        "wide.html": "<article><div style='width:300px;overflow-x:auto'><table><tr><th>"
                     + "</th><th>".join(f"column number {i}" for i in range(12)) + "</th></tr></table></div></article>",
        "announce.html": "<article><section><h1>T</h1><p>Below is the slow version.</p><p>Unrelated.</p>"
                         "<p>It works as follows:</p><div class='cell'>code</div><p>Here is a list:</p><p>More.</p>"
                         "</section></article>",
    }
    for name, body in pages.items():
        (tmp_path / name).write_text(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>t</title></head>"
                                     f"<body>{body}</body></html>", encoding="utf-8")
    found = check_pages(tmp_path, sorted(pages))
    assert found["good.html"] == []
    assert any("no alt text" in p for p in found["noalt.html"])
    assert any("file name as alt" in p for p in found["filealt.html"])
    assert any("did not load" in p for p in found["broken.html"])
    assert any("outside the site: https://cdn.example.org/x.js" in p for p in found["outside.html"])
    assert any("console error: boom" in p for p in found["console.html"])
    assert any("MathJax did not load" in p for p in found["math.html"])
    assert found["clean_text.html"] == []
    assert any("Markdown syntax in the text (a Markdown table row)" in p for p in found["pipes.html"])
    assert any("(bold asterisks **)" in p for p in found["bold.html"])
    assert any("(a pair of backticks)" in p for p in found["ticks.html"])
    assert any("(display-math dollars $$)" in p for p in found["dollars.html"])
    assert any("(a Markdown link" in p for p in found["link.html"])
    assert any("a table shown as text" in p for p in found["texttable.html"])
    assert any("error output" in p and "ValueError" in p for p in found["traceback.html"])
    assert any("warning output" in p and "UserWarning" in p for p in found["stderr.html"])
    assert found["empty_heading.html"] == ["heading 'Empty' (h2) has nothing under it"]
    assert len(found["wide.html"]) == 1 and "in a 300 px column (the reader scrolls sideways" in found["wide.html"][0]
    assert found["announce.html"] == ["a paragraph announces what follows, but no code, list, table or figure "
                                      "follows it: 'Below is the slow version.'"]


def test_heading_order_check():
    source = ["`nn.LSTM`: in and out", "Two *directions*", "The weights ($W$)", "Self-check"]
    page = ["nn.LSTM: in and out", "Two directions", "The weights ()", "Self-check"]
    assert heading_order_problems(source, page) == []
    assert heading_order_problems(source, page[:1] + page[2:]) == ["heading 'Two *directions*' is not on the page"]
    swapped = [page[0], page[2], page[1], page[3]]
    assert heading_order_problems(source, swapped) == ["heading 'The weights ($W$)' appears out of source order"]


def test_source_headings_skip_code_and_front_matter(tmp_path):
    md = tmp_path / "p.md"
    md.write_text("---\ntitle: x\n---\n# Title\n\n```bash\n# a comment\n```\n\n## Part\n", encoding="utf-8")
    assert source_headings(md) == ["Title", "Part"]


def test_overlap_check_finds_colliding_titles_and_labels():
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    def two_panels(layout):
        fig, axes = plt.subplots(2, 1, figsize=(3, 2.2), layout=layout)
        for ax in axes:
            ax.plot([1, 2])
            ax.set_title("A long title of a panel")
            ax.set_xlabel("steps of training")
        return fig

    crowded = two_panels(None)
    found = overlaps(crowded)
    assert any("axes 1 title 'A long title of a panel'" in p for p in found), found
    assert overlaps(two_panels("constrained")) == []
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.set_xticks(range(30), [f"label {i}" for i in range(30)])
    assert any("x tick label" in p and "overlaps axes 0 x tick label" in p for p in overlaps(fig))
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    for x in (0.5, 0.51):  # one-glyph markers may touch; words may not
        ax.text(x, 0.5, "\u21b5")
    assert overlaps(fig) == []
    ax.text(0.2, 0.2, "a word")
    ax.text(0.21, 0.2, "another")
    found = overlaps(fig)
    assert len(found) == 1 and found[0].startswith("axes 0 text 'a word' overlaps axes 0 text 'another'"), found
    plt.close("all")


_PROBE_CELLS = [
    ("markdown", "# Probe\n\nInline math $a^2 + b^2$ and a glued number {glue:text}`acc:.2f`.", {}),
    ("code", "import time\nimport numpy as np\nfrom myst_nb import glue\ntime.sleep(0.5)\n"
             "glue('acc', 0.9312, display=False)\nglue('npval', np.float64(1.5), display=False)\n"
             "glue('name', 'lstm', display=False)\nglue('pairs', {'a': [1, 2.5]}, display=False)", {}),
    ("code", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 2, 3])\n"
             "ax.set_title('Rising'); ax.set_xlabel('x'); ax.set_ylabel('y')\nplt.show()",
     {"mystnb": {"image": {"alt": "A line rising from 1 to 3"}}}),
    ("code", "import ipywidgets as w\nw.IntSlider(value=3, description='T')", {}),
    ("markdown", "## Results\n\nThe table below is displayed as Markdown by the code.", {}),
    ("code", "from IPython.display import Markdown, display\n"
             "display(Markdown('| model | acc |\\n|---|---|\\n| **lstm** | 0.93 |'))", {}),
    ("markdown", "## A crowded figure\n\nTwo panels whose titles and labels collide.", {}),
    ("code", "fig, axes = plt.subplots(2, 1, figsize=(3, 2.2))\nfor a in axes:\n"
             "    a.plot([1, 2]); a.set_title('A long title of a panel'); a.set_xlabel('steps of training')\nplt.show()",
     {"mystnb": {"image": {"alt": "Two panels whose titles run into each other"}}}),
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
    reports = inspect_pages(book.html_dir, ["book/99_probe.html", "book/notation.html", "index.html"])
    assert {page: r.problems for page, r in reports.items()} == {
        "book/99_probe.html": [], "book/notation.html": [], "index.html": []}
    probe = reports["book/99_probe.html"]
    assert probe.output_tables == 1, "the displayed Markdown table is not a <table>"
    assert heading_order_problems(source_headings(src / "book" / "99_probe.ipynb"),
                                  [text for _, text, _ in probe.headings]) == []
    # the figure check ran in the probe's kernel: the plain figure is clean, the crowded one is not
    checks = book.figure_checks()
    nb = book.executed("99_probe")
    (plain, _), (crowded, _) = [(source, i) for i, source in _image_cells(nb)]
    assert checks[cell_sha1(plain)] == [[]]
    assert any("overlaps" in p for p in checks[cell_sha1(crowded)][0])

    # nothing changed: every page is read again (fresh Sphinx environment), no notebook runs
    shutil.rmtree(book.html_dir)
    shutil.rmtree(book.build_dir / ".doctrees")
    again = build_book(src, tmp_path / "out")
    assert again.returncode == 0 and again.executed_now == []
    assert "Using cached notebook" in again.log

    # myst-nb's default for Markdown outputs (CommonMark, no tables): the table becomes a paragraph
    # of pipes, which the page check reports
    config = (src / "_config.yml").read_text(encoding="utf-8")
    assert "nb_render_markdown_format: myst" in config
    (src / "_config.yml").write_text(config.replace("nb_render_markdown_format: myst",
                                                    "nb_render_markdown_format: commonmark"), encoding="utf-8")
    shutil.rmtree(book.html_dir)
    shutil.rmtree(book.build_dir / ".doctrees")
    commonmark = build_book(src, tmp_path / "out")
    assert commonmark.executed_now == []
    report = inspect_pages(commonmark.html_dir, ["book/99_probe.html"])["book/99_probe.html"]
    assert report.output_tables == 0
    assert any("(a Markdown table row)" in p for p in report.problems), report.problems


def test_screenshot_script_renders_every_page_full_length(tmp_path):
    site, out = tmp_path / "html", tmp_path / "shots"
    (site / "book").mkdir(parents=True)
    (site / "_static").mkdir()
    (site / "_static" / "fragment.html").write_text("<p>theme fragment, not a page</p>")
    (site / "index.html").write_text("<!DOCTYPE html><html><body><p>home</p></body></html>")
    tall = "".join(f"<p>paragraph {i}</p>" for i in range(200))
    (site / "book" / "long.html").write_text(f"<!DOCTYPE html><html><body>{tall}</body></html>")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "screenshots.py"), "--site", str(site),
                           "--out", str(out), "--width", "800"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["book__long.png", "index.png"]
    width, height = struct.unpack(">II", (out / "book__long.png").read_bytes()[16:24])  # the PNG's IHDR
    assert width == 800 and height > 2000, "not the full page"
    missing = subprocess.run([sys.executable, str(REPO / "scripts" / "screenshots.py"), "--site", str(tmp_path / "none")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "expected a built site at" in missing.stderr
