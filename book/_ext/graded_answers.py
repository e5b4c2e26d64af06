"""Sphinx extension: the students' edition of the book, without the answers to graded notebooks.

Book code that answers a graded function (chapter 2 prints the package's `lstm_cell` step, which is the
`gates` solution) sits in a sphinx-exercise solution block with the class ``graded-answer``; in a chapter
notebook that is a gated block around the code cell::

    ```{solution-start} graded-gates-lstm-cell
    :class: dropdown graded-answer
    ```
    <code cell(s)>
    ```{solution-end}
    ```

with the ``solution-start`` and ``solution-end`` directives each alone in a markdown cell. The full edition
(the default) shows such a block collapsed, like every other answer. With ``hide_graded_answers: true``
(``sphinx: config:`` in _config.yml) every ``graded-answer`` block is left out: its place on the page says so,
and the downloadable copy of the notebook (``_sources/…ipynb``) loses the same cells. The self-check answers
stay, since they answer no graded function.

Why not sphinx-exercise's own ``hide_solutions``: it drops *every* solution (the self-check answers too), and
in sphinx-exercise 1.2.1 it crashes the build on gated blocks ("departing unknown node type:
solution_end_node", executablebooks/sphinx-exercise#89), which code cells need.
"""
from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_node

CLASS = "graded-answer"
NOTE = ("The answer to a graded notebook is left out of this edition of the book while the assignment is open; "
        "your instructor publishes the full edition afterwards.")


class RemoveGradedAnswers(SphinxTransform):
    """Replace every ``graded-answer`` solution with a one-line note (only with ``hide_graded_answers``)."""

    # after sphinx-exercise's MergeGatedSolutions (10) has turned a gated block into one solution node
    default_priority = 11

    def apply(self) -> None:
        if not self.config.hide_graded_answers:
            return
        for node in list(self.document.findall(solution_node)):
            if CLASS in node.get("classes", []):
                note = nodes.note("", nodes.paragraph("", NOTE))
                node.replace_self(note)
                # replace_self hands the solution's ids and classes (solution, dropdown) to the note: a
                # note that collapses and counts as an answer; it is neither
                note["ids"], note["names"], note["classes"] = [], [], ["graded-answer-left-out"]


def _strip_notebook(path: Path) -> None:
    """Drop the cells of every graded-answer block (start and end markers included) from a notebook copy."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells, inside, changed = [], False, False
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if not inside and cell["cell_type"] == "markdown" and "{solution-start}" in text and CLASS in text:
            inside, changed = True, True
            cells.append({"cell_type": "markdown", "metadata": {}, "source": [NOTE]})
            continue
        if inside:
            inside = not (cell["cell_type"] == "markdown" and "{solution-end}" in text)
            continue
        cells.append(cell)
    if inside:
        raise RuntimeError(f"{path}: a graded-answer solution-start without its solution-end")
    if changed:
        nb["cells"] = cells
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def strip_downloads(app: Sphinx, exc: Exception | None) -> None:
    """The downloadable notebooks (``_sources/``) lose the graded-answer cells too."""
    if exc is None and app.config.hide_graded_answers and app.builder.format == "html":
        for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
            _strip_notebook(path)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    app.add_config_value("hide_graded_answers", False, "env", types=[bool])
    app.add_transform(RemoveGradedAnswers)
    app.connect("build-finished", strip_downloads)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
