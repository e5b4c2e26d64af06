"""The verdict, decided in nbgrader's own process: ``AddProbes`` before execution, ``Judge`` after it.

Test cells that run in the student's kernel share it with the student's code, which ran first and can change
anything in it (hooks, modules, builtins, the tests' own globals). So the kernel only *runs* the student's
functions; the points are decided here, where no student code runs:

1. ``AddProbes`` (first autograde step) draws a secret seed with ``secrets`` (never written anywhere the kernel
   can read), makes the probe inputs from it (``checks/<notebook>.py``: ``make_inputs``), keeps them in this
   process's memory (nbconvert's ``resources``), scans the student's cells statically (``static.py``), and
   inserts one probe cell per graded function right after the last graded test cell (the ungraded cells after
   it run after the probes, so an error or a hang there cannot cost points). A probe cell holds only that
   function's inputs, as data (``protocol.py``); it calls the student's function on them and prints what came
   back, as data.
2. ``GradingExecute`` runs the notebook: the student's cells, the test cells, the probe cells, then the ungraded
   cells after the tests.
3. ``Judge`` (right after it) reads each probe cell's output from the executed notebook in memory, loads it with
   ``torch.load(weights_only=True)``, recomputes every reference from its own copy of the inputs
   (``checks/<notebook>.py``: ``verdict``), removes the probe cells, and sets each graded test cell's outcome:

   - the hidden test cell of a function passes only if the kernel ran it without an error **and** the judge
     found every result of that function right; the visible one needs the judge's "visible" checks (what the
     visible test promises). The kernel's verdict can only cost points, never earn them;
   - a failure puts the judge's message first in the cell's outputs (an error: nbgrader's ``SaveAutoGrades``
     then gives 0); the kernel's own output stays after it, as advice that names the likely mistake;
   - an ``execute_result`` in a test cell becomes a plain display (nbgrader would read a number there as partial
     credit, and only code in the kernel can put one there);
   - a missing, duplicated, malformed or oversized result fails both test cells of its function;
   - a tampering construct in the student's cells (``static.py``) fails every test cell of the notebook;
     PyTorch's own LSTM in an answer that must write it by hand fails that function's test cells, and so does
     autograd in an answer that must compute gradients by hand (``NO_AUTOGRAD`` in the notebook's checks). In a
     cell after the probes, which cannot change what they saw, both are allowed (a student may compare with them).
"""
from __future__ import annotations

import secrets
from pathlib import Path

import torch
from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from . import static
from .protocol import ProbeError, decode, encode, parse

KEY = "lstm_course_judge"  # where the inputs wait in nbconvert's resources (this process's memory only)
PROBE = "lstm_course_probe"  # cell metadata key of a probe cell
ENAME = "GraderVerdict"


def checks_for(notebook: str):
    """The checks module of a notebook (``checks/<notebook>.py``), or None."""
    import importlib
    try:
        return importlib.import_module(f"{__package__}.checks.{notebook}")
    except ModuleNotFoundError:
        return None


def probe_source(notebook: str, function: str, blob: str) -> str:
    return (f"# Grader's probe for {function}: runs it on the grader's inputs (removed before grades are saved)\n"
            f"from lstm_course.grading.protocol import probe as _lstm_course_probe\n"
            f"_lstm_course_probe({notebook!r}, {function!r}, globals(), {blob!r})\n")


class AddProbes(NbGraderPreprocessor):
    """Draw the secret inputs, scan the student's cells, append the probe cells (before execution)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        notebook = resources["nbgrader"]["notebook"]
        checks = checks_for(notebook)
        if checks is None:
            self.log.warning("no judge checks for notebook %s: its test cells' own results stand", notebook)
            return nb, resources
        seed = secrets.randbits(63)  # per run; only this process ever holds it
        inputs = checks.make_inputs(torch.Generator().manual_seed(seed))
        # The probes run right after the last test cell: what comes after it (the ungraded "see it work" and
        # try-it cells, cells a student adds there) runs later and cannot change a result or stop a probe.
        graded = [k for k, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        at = graded[-1] + 1 if graded else len(nb.cells)
        findings = static.scan(nb, self._instructor_cells(resources), lstm_before=at,
                               autograd=bool(getattr(checks, "NO_AUTOGRAD", ())))
        resources[KEY] = {"notebook": notebook, "inputs": inputs, "findings": findings}
        probes = [NotebookNode(cell_type="code", metadata={PROBE: function}, execution_count=None, outputs=[],
                               source=probe_source(notebook, function, encode(inputs[function])))
                  for function in checks.FUNCTIONS]
        nb.cells[at:at] = probes
        return nb, resources

    def _instructor_cells(self, resources: dict) -> set[str]:
        """Sources of the source notebook's locked cells (setup, tests): not the student's code."""
        import nbformat
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"])) / (
            info["notebook"] + ".ipynb")
        if not path.exists():
            self.log.warning("%s not found: the student's cells are told apart by their metadata only", path)
            return set()
        source = nbformat.read(path, as_version=4)
        return {c.source.strip() for c in source.cells if c.cell_type == "code"
                and c.metadata.get("nbgrader", {}).get("locked")}


class Judge(NbGraderPreprocessor):
    """Decide every graded test cell's outcome from the probe results (after execution, before SaveAutoGrades)."""

    penalize_flagged = Bool(True, help="Fail the tests that a tampering construct or PyTorch's own LSTM in the "
                            "student's cells affects (static.py). Off, the verdict rests on the probe results "
                            "alone (the tests use this to show that they hold by themselves).").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        state = resources.pop(KEY, None)
        probes = [c for c in nb.cells if c.get("metadata", {}).get(PROBE)]
        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(PROBE)]
        if state is None:
            return nb, resources
        checks = checks_for(state["notebook"])
        info = resources["nbgrader"]
        who = f"{info['student']}/{info['assignment']}/{info['notebook']}"
        outputs = {c.metadata[PROBE]: "".join(o.get("text", "") for o in c.get("outputs", [])
                                              if o.get("output_type") == "stream" and o.get("name") == "stdout")
                   for c in probes}
        failures: dict[str, list[tuple[str, str]]] = {}
        for function in checks.FUNCTIONS:
            try:
                blobs = parse(outputs.get(function, "")).get(function, [])
                if len(blobs) != 1:
                    raise ProbeError("missing result (the probe did not finish)" if not blobs else
                                     f"{len(blobs)} results where one was expected")
                results = decode(blobs[0])
                if isinstance(results, dict) and "probe_error" in results:
                    raise ProbeError(f"the probe could not report the result: {results['probe_error']}")
                failures[function] = checks.verdict(function, state["inputs"][function], results)
            except ProbeError as err:
                failures[function] = [("visible", f"{function}: {err}")]
            except Exception as err:  # a result of a shape the checks did not foresee: it is not the right one
                failures[function] = [("visible", f"{function}: unusable result ({type(err).__name__}: {err})")]
        findings = state["findings"]
        if findings:
            self.log.warning("REVIEW %s: %s", who, "; ".join(map(str, findings)))
        if self.penalize_flagged:
            self._penalize(findings, checks, failures)
        for function, fails in failures.items():
            if fails:
                self.log.info("%s: %s fails the judge's checks: %s", who, function, "; ".join(m for _, m in fails[:3]))
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if not cell.get("metadata", {}).get("nbgrader", {}).get("grade") or cell.cell_type != "code":
                continue
            # nbgrader reads a number in a test cell's execute_result as partial credit: the test cells here end in
            # no expression, so such a number can only come from code that ran in the kernel. It stays visible.
            cell.outputs = [_as_display(o) for o in cell.get("outputs", [])]
            for function in checks.FUNCTIONS:
                if gid in (f"test_{function}", f"test_{function}_hidden"):
                    hidden = gid.endswith("_hidden")
                    mine = [m for group, m in failures.get(function, []) if hidden or group == "visible"]
                    if mine:
                        cell.outputs = [_verdict(mine)] + list(cell.get("outputs", []))
        return nb, resources

    @staticmethod
    def _penalize(findings: list, checks, failures: dict) -> None:
        tamper = [f for f in findings if f.kind == "tamper"]
        if tamper:
            why = (f"the grader found {tamper[0]} in your code. Code that can change what the grader sees is not "
                   f"allowed in these notebooks, so no test of this notebook earns points (ask your instructor if "
                   f"you think this is a mistake)")
            for function in checks.FUNCTIONS:
                failures.setdefault(function, []).insert(0, ("visible", why))
        for f in findings:
            if f.kind != "lstm":
                continue
            targets = [f.cell] if f.cell in checks.NO_PYTORCH_LSTM else (
                list(checks.NO_PYTORCH_LSTM) if f.cell not in checks.FUNCTIONS else [])
            for function in targets:
                failures.setdefault(function, []).insert(0, (
                    "visible", f"{function} uses PyTorch's own LSTM ({f.construct}, {f.cell} line {f.line}): write the "
                    f"gate equations yourself; calling PyTorch's LSTM earns no points here"))
        no_autograd = tuple(getattr(checks, "NO_AUTOGRAD", ()))
        for f in findings:
            if f.kind != "autograd":
                continue
            targets = [f.cell] if f.cell in no_autograd else (list(no_autograd) if f.cell not in checks.FUNCTIONS else [])
            for function in targets:
                failures.setdefault(function, []).insert(0, (
                    "visible", f"{function} uses PyTorch's autograd ({f.construct}, {f.cell} line {f.line}): write "
                    f"the gradients yourself; gradients from autograd earn no points here"))


def _as_display(output: NotebookNode) -> NotebookNode:
    if output.get("output_type") != "execute_result":
        return output
    return NotebookNode(output_type="display_data", data=output.get("data", {}), metadata=output.get("metadata", {}))


def _verdict(messages: list[str]) -> NotebookNode:
    shown = messages[:3] + ([f"... and {len(messages) - 3} more"] if len(messages) > 3 else [])
    text = "The grader's checks failed: " + " | ".join(shown)
    return NotebookNode(output_type="error", ename=ENAME, evalue=text, traceback=[f"\x1b[0;31m{ENAME}\x1b[0m: {text}"])
