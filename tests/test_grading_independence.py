"""Every graded function's points are its own: for each notebook and each function G, G missing, G raising when
called, G's cell a syntax error, G's cell running out of memory, G's cell running out of time -- and every other
function F keeps full marks (issue 28). The judge runs its real probe process; nbgrader's kernel is not needed
(the kernel decides no points: tests/test_grading_judge.py)."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.utils import determine_grade
from traitlets.config import Config

from lstm_course.grading.judge import AddProbes, Judge, checks_for
from nbgrader_course import REPO

pytestmark = pytest.mark.slow

ASSIGNMENTS = ("gates", "backward", "detaching", "temperature")
FAULTS = {
    "missing": lambda g: "pass  # not answered\n",
    "raises when called": lambda g: f"def {g}(*args, **kwargs):\n    raise RuntimeError('not finished')\n",
    "syntax error": lambda g: f"def {g}(:\n    pass\n",
    "out of memory": lambda g: "chunks = [bytearray(2**28) for _ in range(64)]  # 16 GiB, past the cap\n",
    "out of time": lambda g: "while True:\n    pass\n",
}
CASES = [(a, g, fault) for a in ASSIGNMENTS for g in checks_for(a).FUNCTIONS for fault in FAULTS]


def _config() -> Config:
    c = Config()
    c.CourseDirectory.root = str(REPO)
    c.CourseDirectory.source_directory = "solutions"
    c.Judge.probe_timeout = 10.0  # the endless loop's cost; train_tbptt takes a few seconds on a busy machine
    c.Judge.probe_memory = 2**30
    return c


@pytest.mark.parametrize("assignment,function,fault", CASES, ids=[f"{a}-{g}-{f}" for a, g, f in CASES])
def test_a_broken_function_costs_its_own_points_only(assignment, function, fault):
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == function:
            cell.source = FAULTS[fault](function)
    resources = {"nbgrader": {"student": "s", "assignment": assignment, "notebook": assignment}}
    nb, resources = AddProbes(config=_config()).preprocess(nb, resources)
    nb, _ = Judge(config=_config()).preprocess(nb, resources)
    scores = {c.metadata["nbgrader"]["grade_id"]: determine_grade(c) for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    mine = {f"test_{function}", f"test_{function}_hidden"}
    assert all(scores[gid][0] == 0 for gid in mine), scores
    others = {gid: s for gid, s in scores.items() if gid not in mine}
    assert all(s[0] == s[1] for s in others.values()), f"{fault} in {function} cost another function: {others}"
