"""Static checks on the chapter sources (fast: nothing is executed).

Every chapter must open the same way in Colab: its first code cell fetches the course repository
named in _config.yml, and numbers go through lstm_course.notebook.glue, which also works without
myst-nb (Colab has none).
"""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# numbered chapters, including lettered ones slotted between two numbers (02b_…)
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_ten_numbered_chapters_and_2b():
    assert [p.name.split("_")[0] for p in CHAPTERS] == ["01", "02", "02b"] + [f"{i:02d}" for i in range(3, 11)]


def test_every_chapter_starts_with_the_same_colab_setup_cell():
    firsts = {p.name: _code_cells(p)[0] for p in CHAPTERS}
    repo_url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for name, cell in firsts.items():
        assert '"google.colab" in sys.modules' in cell, f"{name}: first code cell is not the Colab setup"
        assert repo_url in cell, f"{name}: the Colab cell clones another repository than _config.yml's {repo_url}"
    assert len(set(firsts.values())) == 1, "the Colab setup cells differ between chapters"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_without_outputs_and_imports_glue_from_the_package(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] for c in code), "chapters are committed without outputs"
    source = "\n".join("".join(c["source"]) for c in code)
    assert "from myst_nb import glue" not in source, "use lstm_course.notebook.glue (works in Colab too)"


# ------------------------------------------------------------------ self-check answers ------
# sphinx-exercise directives as the chapters write them (a MyST code fence, options on the next lines)
_EXERCISE = re.compile(r"^```\{exercise\}[^\n]*\n((?::[^\n]*\n)*)", re.M)
_SOLUTION = re.compile(r"^```\{(solution|solution-start)\} (\S+)\n((?::[^\n]*\n)*)", re.M)
_END = re.compile(r"^```\{solution-end\}", re.M)
_LABEL = re.compile(r"^:label: (\S+)$", re.M)
_CLASS = re.compile(r"^:class: (.+)$", re.M)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _self_check(path: Path) -> list[dict]:
    """The cells of the chapter's "## Self-check" section: from the cell with that heading to the end."""
    cells = _cells(path)
    starts = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Self-check" in "".join(c["source"])]
    assert len(starts) == 1, f"{path.name}: expected one '## Self-check' section, got {len(starts)}"
    section = cells[starts[0]:]
    text = "".join(section[0]["source"])
    section[0] = dict(section[0], source=text[text.index("## Self-check"):])
    return section


def _blocks(cells: list[dict]) -> list[dict]:
    """Exercises and solutions in cell order: {"kind", "label" or "target", "classes", "code_cells"}."""
    found, open_gated = [], None
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            if open_gated is not None:
                open_gated["code_cells"] += 1
            continue
        events = [(m.start(), "exercise", m) for m in _EXERCISE.finditer(text)]
        events += [(m.start(), m.group(1), m) for m in _SOLUTION.finditer(text)]
        events += [(m.start(), "end", m) for m in _END.finditer(text)]
        for _, kind, m in sorted(events, key=lambda e: e[0]):
            if kind == "exercise":
                label = _LABEL.search(m.group(1))
                found.append({"kind": "exercise", "label": label.group(1) if label else None})
            elif kind == "end":
                assert open_gated is not None, "a solution-end without a solution-start"
                open_gated = None
            else:
                classes = _CLASS.search(m.group(3))
                block = {"kind": "solution", "target": m.group(2), "gated": kind == "solution-start",
                         "classes": classes.group(1).split() if classes else [], "code_cells": 0}
                found.append(block)
                if block["gated"]:
                    assert open_gated is None, f"solution-start {m.group(2)} inside another gated solution"
                    open_gated = block
    assert open_gated is None, f"solution-start {open_gated['target']} without a solution-end"
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_self_check_question_has_a_collapsed_answer_and_one_is_checked_by_running_code(path):
    section = _self_check(path)
    blocks = _blocks(section)
    exercises = [b["label"] for b in blocks if b["kind"] == "exercise"]
    solutions = [b for b in blocks if b["kind"] == "solution"]
    assert exercises, f"{path.name}: the Self-check has no exercise directives"
    assert all(exercises), f"{path.name}: every self-check exercise needs a :label: for its answer"
    # questions written as a plain list would have no answer
    text = "\n".join("".join(c["source"]) for c in section if c["cell_type"] == "markdown")
    outside = re.sub(r"^```\{[^`]*?^```", "", text, flags=re.M | re.S)
    assert not re.search(r"^\s*\d+\.\s", outside, re.M), f"{path.name}: a numbered question outside an exercise"
    answered = [s["target"] for s in solutions]
    assert sorted(answered) == sorted(exercises), (
        f"{path.name}: questions without exactly one answer: "
        f"{sorted(set(exercises) ^ set(answered)) or [a for a in answered if answered.count(a) > 1]}")
    closed = [s["target"] for s in solutions if "dropdown" not in s["classes"]]
    assert not closed, f"{path.name}: answers shown open (no :class: dropdown): {closed}"
    assert any(s["gated"] and s["code_cells"] for s in solutions), (
        f"{path.name}: no self-check answer has a code cell for the reader to run")


def test_self_check_labels_are_unique_across_the_book():
    labels = [b["label"] for p in CHAPTERS for b in _blocks(_cells(p)) if b["kind"] == "exercise"]
    assert len(labels) == len(set(labels)), sorted(l for l in labels if labels.count(l) > 1)


def test_graded_answer_blocks_hold_code_between_markers_alone_in_their_cells():
    """book/_ext/graded_answers.py drops a graded-answer block from the students' downloadable notebooks by
    cutting from the cell with its solution-start to the cell with its solution-end: both must be alone there,
    with the code in between, and the block collapsed in the full edition."""
    start = re.compile(r"```\{solution-start\} \S+\n:class: (?=[^\n]*\bdropdown\b)[^\n]*\bgraded-answer\b[^\n]*\n```")
    found = {}
    for path in CHAPTERS:
        inside, code_cells = False, 0
        for cell in _cells(path):
            text = "".join(cell["source"]).strip()
            if cell["cell_type"] == "code":
                code_cells += inside
                continue
            if "graded-answer" in text:
                assert start.fullmatch(text), f"{path.name}: a graded-answer start must be alone in its cell, collapsed: {text!r}"
                assert not inside, f"{path.name}: a graded-answer block inside another"
                inside, code_cells = True, 0
            elif inside and "{solution-end}" in text:
                assert text == "```{solution-end}\n```", f"{path.name}: the graded-answer end shares its cell: {text!r}"
                assert code_cells >= 1, f"{path.name}: a graded-answer block without a code cell"
                found[path.stem] = found.get(path.stem, 0) + 1
                inside = False
            elif inside:
                raise AssertionError(f"{path.name}: markdown inside a graded-answer block: {text[:80]!r}")
        assert not inside, f"{path.name}: a graded-answer block without its solution-end"
    # chapter 2 prints the package's lstm_cell step; 2b the same step in NumPy and the package's lstm_step_backward and
    # lstm_backward (the `backward` notebook's answers); chapter 3 times the lstm_layer loop
    assert found == {"02_cell_by_hand": 1, "02b_backward_by_hand": 3, "03_nn_lstm": 1}, found


def test_no_chapter_source_shows_a_graded_answer_outside_its_blocks():
    """The students' edition drops the graded-answer blocks; what stays must not answer a graded function. Checked
    here on the sources (code and markdown outside the blocks), fast and without a build, with the same leak
    detector and threshold as tests/test_book.py applies to the built students' edition (which also sees outputs)."""
    import sys

    import nbformat

    sys.path.insert(0, str(ROOT / "tests"))
    from booktools import graded_answers
    from nbgrader_course import leaked_lines

    answers = graded_answers()
    assert {"lstm_step_backward", "lstm_backward", "lstm_cell"} <= set(answers)
    shown = [nbformat.read(p, as_version=4) for p in sorted((ROOT / "notebooks").glob("*/*.ipynb"))]
    for path in CHAPTERS:
        kept, inside = [], False
        for cell in _cells(path):
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and "{solution-start}" in text and "graded-answer" in text:
                inside = True
            elif inside and cell["cell_type"] == "markdown" and "{solution-end}" in text:
                inside = False
            elif not inside:
                kept.append(text)
        text = "\n".join(kept)
        for function, lines in answers.items():
            leaked = leaked_lines(text, {line for line in lines if len(line) >= 16}, shown)
            assert len(leaked) < 2, f"{path.name} shows {function}'s answer outside a graded-answer block: {leaked}"


def test_students_edition_strips_graded_cells_from_a_downloadable_notebook(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from graded_answers import NOTE, _strip_notebook
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))

    def cell(kind, text):
        return {"cell_type": kind, "metadata": {}, "source": [text]}

    cells = [cell("markdown", "# Ch"), cell("markdown", "```{solution-start} ex\n:class: dropdown graded-answer\n```"),
             cell("code", "print('the answer')"), cell("markdown", "```{solution-end}\n```"),
             cell("markdown", "```{solution-start} sc-1\n:class: dropdown\n```"), cell("code", "print('self-check')"),
             cell("markdown", "```{solution-end}\n```")]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    _strip_notebook(path)
    kept = ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert kept == ["# Ch", NOTE] + ["".join(c["source"]) for c in cells[4:]]
    path.write_text(json.dumps({"cells": cells[:3], "metadata": {}}), encoding="utf-8")
    with pytest.raises(RuntimeError, match="without its solution-end"):
        _strip_notebook(path)


# a call that draws a figure; import lines are dropped first (`from lstm_course.viz import plot_gates`)
_DRAWS = re.compile(r"plt\.show\(|plt\.subplots\(|plt\.figure\(|\bplot_\w+\(")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_cell_that_draws_a_figure_gives_it_alt_text(path):
    """myst-nb takes a figure's alt text from the cell's `mystnb.image.alt` metadata; without it the page shows
    only the image's hashed file name to a screen reader. Checked here in a second, not after a 10-minute build."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    missing = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(l for l in "".join(cell["source"]).splitlines()
                         if not l.lstrip().startswith(("from ", "import ")))
        alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
        if _DRAWS.search(code) and len(alt.split()) < 5:
            missing.append(f"cell {i}: {code.strip().splitlines()[0][:60]!r}")
    assert not missing, f"{path.name}: figure cells without alt text (expected mystnb.image.alt metadata): {missing}"


def test_make_charlm_fixes_the_settings_the_committed_model_was_trained_with():
    """book/models/make_charlm.py must reproduce book/models/charlm.pt even after the package's defaults move, so it
    spells out its configuration; this compares it with the configuration stored in the committed checkpoint."""
    import importlib.util

    from lstm_course.checkpoint import load_checkpoint

    spec = importlib.util.spec_from_file_location("make_charlm", ROOT / "book/models/make_charlm.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    _, _, config, extra = load_checkpoint(ROOT / "book/models/charlm.pt")
    for name, value in script.MODEL.items():
        assert getattr(config, name) == value, f"MODEL[{name!r}]: expected {getattr(config, name)!r}, got {value!r}"
    stored = extra["train_config"].to_dict()
    for name, value in script.TRAIN.items():
        if name not in ("max_steps", "max_seconds"):  # the README gives the budget the committed run stopped at
            assert stored[name] == value, f"TRAIN[{name!r}]: expected {stored[name]!r}, got {value!r}"
    unused = {name for name in stored if name.startswith("muon_")} if stored["optimizer"] == "adamw" else set()
    assert set(script.TRAIN) | {"max_seconds", "carry_state", "detach"} | unused >= set(stored), \
        "a training setting is left to the defaults"
