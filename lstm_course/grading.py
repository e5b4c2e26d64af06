"""Autograding that survives hostile and broken submissions (used by ``nbgrader_config.py``).

nbgrader's own ``Execute`` step gives up on a whole notebook when the student's kernel dies
(``os._exit``, a crash, the memory cap) or ignores the interrupt sent at the cell timeout: the student
then gets no grade for the parts that worked, no feedback, and ``nbgrader autograde`` exits non-zero.
:class:`GradingExecute` replaces it in the autograde pipeline and

- runs every notebook in the grading kernel (``lstm-course-grader``, see ``grading_kernel.py``) whatever
  kernel the submission's metadata names, passing it the memory and file-size caps configured here;
- when a cell kills the kernel or will not stop at its timeout, records an error in that cell (the
  reason is in the log and in the student's feedback), restarts the kernel, silently re-runs the cells
  before it (except cells that broke the kernel), and carries on: later tests earn their points;
- keeps at most ``max_output_chars`` characters of output per cell (a cell printing 50 MB would
  otherwise be kept whole in memory, in the graded notebook and in the feedback HTML); error outputs
  are shortened, never dropped, because an error is what fails a test.


:class:`RestoreCellMetadata` runs first when a submission is sanitized: a notebook whose cells lost
their nbgrader metadata (Colab can drop cell metadata) gets it back from the released notebook when its
cells can be matched unambiguously, else it is graded as it is (zero) with the reason in the log.

:class:`FlagSuspiciousCode` logs a ``REVIEW`` line for student cells that use what attempts to fool
the grader need (``get_ipython``, ``torch._C``, ``builtins``, ...); it changes no score.

``python -m lstm_course.grading install-kernel [--prefix PREFIX]`` installs the kernel spec.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import json
import sys
import tempfile
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, Unicode

KERNEL_NAME = "lstm-course-grader"


class GradingExecute(Execute):
    """nbgrader's Execute step with a sandboxed, memory-capped kernel and recovery from dead kernels."""

    kernel_name = Unicode(KERNEL_NAME, help="Kernel spec that grades every submission, whatever the "
                          "notebook's metadata names.").tag(config=True)
    memory_limit = Integer(4 * 2**30, help="Bytes of data memory the grading kernel may allocate "
                           "(RLIMIT_DATA); 0 = no cap.").tag(config=True)
    file_size_limit = Integer(2**30, help="Largest file (bytes) the grading kernel may write "
                              "(RLIMIT_FSIZE); 0 = no cap.").tag(config=True)
    sandbox = Bool(True, help="Confine the grading kernel's file access with Landlock.").tag(config=True)
    max_output_chars = Integer(100_000, help="Characters of output kept per cell; -1 = all.").tag(config=True)
    max_restarts = Integer(3, help="Kernel restarts per notebook before the remaining cells are "
                           "marked as not run.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km=None) -> tuple[NotebookNode, dict]:
        self._broken: set[int] = set()
        self._restarts = 0
        self._gave_up = ""
        self._chars = 0
        self._truncated = False
        with tempfile.TemporaryDirectory(prefix="lstm-grader-") as private:  # the kernel's TMPDIR, removed after
            self.extra_arguments = [a for a in self.extra_arguments if not a.startswith("--grading-")] + [
                f"--grading-memory={self.memory_limit}", f"--grading-file-size={self.file_size_limit}",
                f"--grading-sandbox={int(self.sandbox)}", f"--grading-tmp={private}"]
            return super().preprocess(nb, resources, km)

    # --------------------------------------------------------------------------- dead or stuck kernels
    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        self._chars, self._truncated = 0, False
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        if self._gave_up:
            cell.outputs = [_error("CellNotRun", self._gave_up)]
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as err:
            if isinstance(err, DeadKernelError):
                why = ("the kernel died while this cell ran (os._exit, a crash, or the grader's memory cap): "
                       "the cells after it were run in a fresh kernel")
            else:
                why = (f"this cell did not stop at the {self.timeout} s time limit, even when interrupted: "
                       f"the kernel was restarted and the cells after it were run in a fresh kernel")
            student = (resources or {}).get("nbgrader", {}).get("student", "?")
            self.log.error("Student %s, cell %d (%s): %s", student, index,
                           cell.metadata.get("nbgrader", {}).get("grade_id", "no grade id"), why)
            cell.outputs = list(cell.get("outputs", [])) + [_error(type(err).__name__, why)]
            self._broken.add(index)
            self._restart(index)
            return cell, self.resources

    def _restart(self, upto: int) -> None:
        """A fresh kernel in the state the notebook had before cell ``upto`` (minus the broken cells)."""
        while True:
            self._restarts += 1
            if self._restarts > self.max_restarts:
                self._gave_up = (f"not run: the kernel was restarted {self.max_restarts} times in this notebook, "
                                 f"the grader stopped running it")
                self.log.error("%s", self._gave_up)
                return
            run_sync(self.km.restart_kernel)(now=True)
            run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
            try:
                for k, old in enumerate(self.nb.cells[:upto]):
                    if k not in self._broken and old.cell_type == "code" and old.source.strip():
                        self.execute_cell(copy.deepcopy(old), k, store_history=False)
                return
            except (DeadKernelError, CellTimeoutError):
                self._broken.add(k)

    # ---------------------------------------------------------------------------------- output caps
    def output(self, outs, msg, display_id, cell_index):
        limit = self.max_output_chars
        content = msg.get("content", {})
        if limit >= 0 and msg.get("msg_type") == "error":
            content["evalue"] = _shorten(str(content.get("evalue", "")), limit)
            content["traceback"] = [_shorten(line, limit) for line in content.get("traceback", [])[:200]]
        elif limit >= 0:
            size = len(content.get("text", "")) + len(json.dumps(content.get("data", {})))
            if self._chars + size > limit:
                if self._truncated:
                    return None
                self._truncated = True
                keep = max(0, limit - self._chars)
                note = f"\n... output truncated by the grader after {limit} characters ...\n"
                msg = copy.deepcopy(msg)
                msg["msg_type"] = "stream"
                msg["content"] = {"name": "stderr",
                                  "text": (content.get("text", "") if "text" in content else "")[:keep] + note}
            self._chars += size
        return super().output(outs, msg, display_id, cell_index)


class RestoreCellMetadata(NbGraderPreprocessor):
    """Give back nbgrader's cell metadata to a submission that lost all of it (e.g. saved by Colab).

    Without it nbgrader cannot tell test cells from the student's cells: it would run nothing of the
    grader's and record zero. The released notebook's locked cells (text, setup and test cells, which
    students do not edit) are matched to the submission's cells by exact source; the student's cells
    between two matched locked cells are the answer cell between them in the release (several cells
    there are joined into one). Every test cell must be found, and each gap must hold exactly one
    answer cell, otherwise nothing is guessed and the notebook is graded as it is, with the reason
    in the log. Test cells that were edited are then overwritten from the source, as always.
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


# What a submission has no reason to touch in these notebooks, and what each could be used for.
SUSPICIOUS = {
    "get_ipython": "IPython hooks can hide failing tests or rewrite the next cells",
    "torch._C": "the torch internals the hidden tests compare with",
    "builtins": "replacing builtins changes what the tests' own code means",
    "sys.modules": "replacing modules changes what the tests import",
    "__torch_function__": "a tensor subclass or mode can answer comparisons",
    "ctypes": "raw memory and system calls",
    "signal": "signal handlers can ignore the grader's interrupt",
    "os._exit": "ends the kernel",
    "subprocess": "starts programs that outlive the kernel",
}


class FlagSuspiciousCode(NbGraderPreprocessor):
    """Log, for the instructor to review, student cells using what a grader-fooling attempt needs.

    Runs in nbgrader's own process before the notebook is executed, so no student code can stop it.
    It changes no score: in-process tests cannot be made safe from code that ran before them (see the
    guide's threat model), so surprising scores deserve a look, and this says where to look.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        hits = []
        for k, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("locked"):
                continue  # locked cells were just restored from the source
            for pattern, why in SUSPICIOUS.items():
                if pattern in cell.source:
                    where = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {k}")
                    hits.append(f"{pattern!r} in {where} ({why})")
        if hits:
            self.log.warning("REVIEW %s/%s/%s: %s", info["student"], info["assignment"], info["notebook"],
                             "; ".join(hits))
        return nb, resources


def _restore(released: list, nb: NotebookNode) -> str:
    """Copy nbgrader metadata from ``released`` into ``nb.cells`` in place; return "" or why not."""
    locked = [bool(c.metadata.get("nbgrader", {}).get("locked")) for c in released]
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
        answers = [k for k in range(i0 + 1, i1) if not locked[k]]
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


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" ... [{len(text) - limit} characters cut]"


def _error(ename: str, why: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=why,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {why}"])


def kernel_spec(python: str = sys.executable) -> dict:
    """The ``kernel.json`` of the grading kernel for this Python environment."""
    return {
        "argv": [python, "-m", "lstm_course.grading_kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (lstm_course grader: limits + sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
    }


def install_kernel(prefix: str = sys.prefix) -> Path:
    """Write the grading kernel spec into ``<prefix>/share/jupyter/kernels/lstm-course-grader``."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "kernel.json.tmp"
    tmp.write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    tmp.replace(folder / "kernel.json")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_course.grading", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install-kernel", help="install the grading kernel spec (default: this environment)")
    inst.add_argument("--prefix", default=sys.prefix, help="environment prefix (default: %(default)s)")
    args = parser.parse_args(argv)
    print(f"installed {KERNEL_NAME} in {install_kernel(args.prefix)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
