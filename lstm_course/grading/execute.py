"""GradingExecute: nbgrader's Execute step, made to survive hostile and broken submissions.

nbgrader's own ``Execute`` step gives up on a whole notebook when the student's kernel dies
(``os._exit``, a crash, the memory cap) or ignores the interrupt sent at the cell timeout: the student
then gets no grade for the parts that worked, no feedback, and ``nbgrader autograde`` exits non-zero.
:class:`GradingExecute` replaces it in the autograde pipeline and

- runs every notebook in the grading kernel (``lstm-course-grader``, see ``kernel.py``) whatever
  kernel the submission's metadata names, passing it the memory and file-size caps configured here;
- when a cell kills the kernel or will not stop at its timeout, records an error in that cell (the
  reason is in the log and in the student's feedback), restarts the kernel, silently re-runs the cells
  before it (except cells that broke the kernel), and carries on: later tests earn their points;
- keeps at most ``max_output_chars`` characters of output per cell (a cell printing 50 MB would
  otherwise be kept whole in memory, in the graded notebook and in the feedback HTML); error outputs
  are shortened, never dropped. The kernel decides no points (``judge.py`` runs the graded functions in a
  probe process of its own); what it shows is the student's feedback.
"""
from __future__ import annotations

import copy
import json
import tempfile

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

from .install import KERNEL_NAME


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


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" ... [{len(text) - limit} characters cut]"


def _error(ename: str, why: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=why,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {why}"])
