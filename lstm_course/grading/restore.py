"""RestoreCellMetadata: nbgrader's cell metadata given back to a submission that lost it (Colab can drop it).

It runs first when a submission is sanitized: a notebook whose cells lost their nbgrader metadata gets it
back from the released notebook when its cells can be matched unambiguously, else it is graded as it is
(zero) with the reason in the log.
"""
from __future__ import annotations

import copy
import difflib
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor


class RestoreCellMetadata(NbGraderPreprocessor):
    """Give back nbgrader's cell metadata to a submission that lost all of it (e.g. saved by Colab).

    Without it nbgrader cannot tell test cells from the student's cells: it would run nothing of the
    grader's and record zero. The released notebook's locked cells (text, setup and test cells, which
    students do not edit) are matched to the submission's cells by exact source; the student's cells
    between two matched locked cells are the answer cell between them in the release (several cells
    there are joined into one); where the release has no answer cell between them (the try-it cells
    after the tests), the cells are kept as they are. Every test cell must be found, and a gap with an
    answer cell must hold exactly one cell that answers it, otherwise nothing is guessed and the
    notebook is graded as it is, with the reason in the log. Test cells that were edited are then overwritten from the source, as always.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        if any("nbgrader" in c.get("metadata", {}) for c in nb.cells):
            return nb, resources
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        released_path = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"])) / (
            info["notebook"] + ".ipynb")
        who = f"{info['student']}/{info['assignment']}/{info['notebook']}"
        if not released_path.exists():
            self.log.error("%s: no nbgrader cell metadata and no released notebook %s to restore it from",
                           who, released_path)
            return nb, resources
        import nbformat  # late: only needed for this rare case
        released = nbformat.read(released_path, as_version=4).cells
        why = _restore(released, nb)
        if why:
            self.log.error("%s lost its nbgrader cell metadata (saved by Colab?) and it could not be restored: "
                           "%s. It is graded as it is (no test cells: zero). Ask the student to copy their "
                           "answers into a fresh copy of the released notebook.", who, why)
        else:
            self.log.warning("%s had lost its nbgrader cell metadata (saved by Colab?): restored from the "
                             "released notebook by matching its locked cells", who)
        return nb, resources


def _restore(released: list, nb: NotebookNode) -> str:
    """Copy nbgrader metadata from ``released`` into ``nb.cells`` in place; return "" or why not."""
    locked = [bool(c.metadata.get("nbgrader", {}).get("locked")) for c in released]
    # the cells a student answers in; the released notebook's other unlocked cells (the try-it cells after the
    # tests) are free cells, like the ones a student adds: kept as they are, and they may be edited or deleted
    solution = [bool(c.metadata.get("nbgrader", {}).get("solution")) for c in released]
    key_r = [(c.cell_type, c.source.strip()) if lk else ("answer", k) for k, (c, lk) in enumerate(zip(released, locked))]
    cells = copy.deepcopy(nb.cells)  # nothing changes in nb unless every cell finds its place
    key_s = [(c.cell_type, c.source.strip()) for c in cells]
    pairs = {}
    for block in difflib.SequenceMatcher(None, key_r, key_s, autojunk=False).get_matching_blocks():
        for d in range(block.size):
            pairs[block.a + d] = block.b + d
    tests = [k for k, c in enumerate(released) if c.metadata.get("nbgrader", {}).get("grade") and locked[k]]
    missing = [released[k].metadata["nbgrader"]["grade_id"] for k in tests if k not in pairs]
    if missing:
        return f"test cells not found unchanged: {', '.join(missing)}"
    anchors = [(-1, -1)] + sorted(pairs.items()) + [(len(released), len(cells))]
    new_cells = []
    for (i0, j0), (i1, j1) in zip(anchors, anchors[1:]):
        answers = [k for k in range(i0 + 1, i1) if solution[k]]
        theirs = [c for c in cells[j0 + 1:j1] if c.cell_type == "code"]
        if len(answers) > 1 or (answers and not theirs):
            return f"cannot tell which cells answer {', '.join(released[k].metadata['nbgrader']['grade_id'] for k in answers)}"
        if answers:
            merged = copy.deepcopy(theirs[0])
            merged.source = "\n\n".join(c.source for c in theirs)
            merged.metadata["nbgrader"] = copy.deepcopy(released[answers[0]].metadata["nbgrader"])
            new_cells.append(merged)
        else:
            new_cells += cells[j0 + 1:j1]
        if i1 < len(released):
            cell = cells[j1]
            cell.metadata["nbgrader"] = copy.deepcopy(released[i1].metadata["nbgrader"])
            new_cells.append(cell)
    nb.cells = new_cells
    return ""
