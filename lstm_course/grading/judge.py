"""The verdict, decided outside the student's kernel: ``AddProbes`` before execution, ``Judge`` after it.

The notebook still runs in the grading kernel (``execute.py``), but only for the student's feedback: its test cells
are advice and decide no points. The points are decided here, in nbgrader's process, from what a separate,
fresh **probe process** saw (``probe_runner.py``, confined by ``confine.py``):

1. ``AddProbes`` (first autograde step) draws a secret seed with ``secrets``, makes the probe inputs from it
   (``checks/<notebook>.py``: ``make_inputs``), scans the student's cells statically (``static/``) and keeps in
   this process's memory (nbconvert's ``resources``) the cells the probe will run: the locked setup cell(s) and
   the student's own cells before the last test cell -- never a test cell, never a cell after the tests.
2. ``GradingExecute`` runs the notebook in the grading kernel, for the feedback.
3. ``Judge`` starts the probe process: ``python -I probe_runner.py`` in a private folder, under a memory cap and a
   Landlock sandbox that cannot read the course package, ``solutions/`` or any other course file. It sends the job
   (cells, inputs, a secret signing key) on standard input and reads one signed result line per function. Then,
   per function:

   - no result, two results, a result that is not signed with the key, or one too large (checked before anything
     is inflated): 0 for that function -- and a line not signed with the key, which only student code can have
     written, 0 for the notebook;
   - the recorder of operators stopped or replaced while the function ran: 0 for that function;
   - PyTorch's LSTM among the operators a hand-written function ran (``NO_PYTORCH_LSTM``), or autograd in one whose
     gradients must be by hand (``NO_AUTOGRAD``): 0 for that function, with the operators named;
   - otherwise ``checks.verdict`` compares the results with references computed here.

   Each graded test cell then passes exactly when the judge found its function right (the visible cell: the
   judge's "visible" checks; the hidden one: all of them). The kernel's own error in a test cell stays visible as
   advice, below a line that says it cost nothing; a failure puts the judge's message first, as an error, which
   nbgrader's ``SaveAutoGrades`` scores 0.
4. Static findings: "tamper" (what can beat the judge: ``static/`` names the technique behind each rule) scores the
   notebook 0; every other finding is a ``REVIEW`` line in the log and a note in the feedback, never points.
"""
from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from nbformat import NotebookNode
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Float, Integer

from . import static
from .confine import EXIT_NO_SANDBOX
from .protocol import MARKER, MAX_RESULT_BYTES, ProbeError, decode, encode, parse, sign

KEY = "lstm_course_judge"  # where the job waits in nbconvert's resources (this process's memory only)
ENAME = "GraderVerdict"
RUNNER = Path(__file__).with_name("probe_runner.py")


def checks_for(notebook: str):
    """The checks module of a notebook (``checks/<notebook>.py``), or None."""
    import importlib
    try:
        return importlib.import_module(f"{__package__}.checks.{notebook}")
    except ModuleNotFoundError:
        return None


def _grade(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


class AddProbes(NbGraderPreprocessor):
    """Draw the secret inputs, scan the student's cells, choose the cells the probe runs (before execution)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        notebook = resources["nbgrader"]["notebook"]
        checks = checks_for(notebook)
        if checks is None:
            self.log.warning("no judge checks for notebook %s: its test cells' own results stand", notebook)
            return nb, resources
        seed = secrets.randbits(63)  # per run; only this process ever holds it
        inputs = checks.make_inputs(torch.Generator().manual_seed(seed))
        graded = [k for k, c in enumerate(nb.cells) if _grade(c)]
        at = graded[-1] + 1 if graded else len(nb.cells)
        locked, tests = self._instructor_cells(resources)
        findings = static.scan(nb, locked, lstm_before=at, autograd=bool(getattr(checks, "NO_AUTOGRAD", ())))
        cells = []
        for k, cell in enumerate(nb.cells[:at]):
            if cell.cell_type != "code" or _grade(cell) or cell.source.strip() in tests or not cell.source.strip():
                continue
            cells.append((cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {k + 1}", cell.source))
        resources[KEY] = {"notebook": notebook, "inputs": inputs, "findings": findings, "cells": cells}
        return nb, resources

    def _instructor_cells(self, resources: dict) -> tuple[set[str], set[str]]:
        """Sources of the source notebook's locked cells (setup, tests), and of its test cells alone."""
        import nbformat
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"])) / (
            info["notebook"] + ".ipynb")
        if not path.exists():
            self.log.warning("%s not found: the student's cells are told apart by their metadata only", path)
            return set(), set()
        source = nbformat.read(path, as_version=4)
        code = [c for c in source.cells if c.cell_type == "code"]
        return ({c.source.strip() for c in code if c.metadata.get("nbgrader", {}).get("locked")},
                {c.source.strip() for c in code if c.metadata.get("nbgrader", {}).get("grade")})


class Judge(NbGraderPreprocessor):
    """Run the probe process and decide every graded test cell's outcome (after execution, before SaveAutoGrades)."""

    penalize_flagged = Bool(True, help="Fail every test of a notebook whose student cells hold a tampering construct "
                            "(static/). Off, the verdict rests on the probe process alone (the tests use this to "
                            "show what it holds by itself).").tag(config=True)
    probe_timeout = Float(30.0, help="Seconds for each cell and each graded function in the probe process.").tag(config=True)
    probe_memory = Integer(4 * 2**30, help="Bytes of data memory the probe process may allocate (RLIMIT_DATA).").tag(config=True)
    probe_sandbox = Bool(True, help="Confine the probe process with Landlock (no course package, no course files). "
                         "Without Landlock the judge refuses to grade unless this is False.").tag(config=True)
    max_restarts = Integer(3, help="Times the probe process is started again without the cell or function that "
                           "killed or hung it.").tag(config=True)
    startup_timeout = Float(120.0, help="Seconds the probe process may take to start (import torch) before its "
                            "first line.").tag(config=True)
    judge_memory = Integer(2 * 2**30, help="Bytes of data memory this process may add while it reads results "
                           "(RLIMIT_DATA, soft limit, lifted afterwards).").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        state = resources.pop(KEY, None)
        if state is None:
            return nb, resources
        checks = checks_for(state["notebook"])
        info = resources["nbgrader"]
        who = f"{info['student']}/{info['assignment']}/{info['notebook']}"
        stdout, stderr, code = self._run_probe(state, checks)
        if code == EXIT_NO_SANDBOX:
            raise RuntimeError(f"{who}: the probe's sandbox (Landlock, Linux >= 5.13) is not available here, so the "
                               f"grader will not decide points: {stderr.strip()[-300:]}. Grade on a machine with "
                               f"Landlock, or set c.Judge.probe_sandbox = False to grade without it.")
        failures, notes = self._verdicts(state, checks, stdout, stderr, who)
        self._apply_findings(state["findings"], checks, failures, notes, who)
        for function, fails in failures.items():
            if fails:
                self.log.info("%s: %s fails the judge's checks: %s", who, function, "; ".join(m for _, m in fails[:3]))
        self._mark(nb, checks, failures, notes)
        return nb, resources

    # ------------------------------------------------------------------------------------- the probe
    def _run_probe(self, state: dict, checks) -> tuple[str, str, int | None]:
        """Run the probe process until every function has reported, starting it again without the cell or the
        function that killed or hung it (at most ``max_restarts`` times). Returns the signed lines that count, the
        end of its standard error, and its exit status."""
        key = state.setdefault("key", secrets.token_bytes(32))
        skip_cells: dict[int, str] = {}
        pending = list(checks.FUNCTIONS)
        lines: list[str] = []
        err, code = "", None
        for _ in range(self.max_restarts + 1):
            stdout, err, code = self._probe_once(state, key, sorted(skip_cells), pending)
            if code == EXIT_NO_SANDBOX:
                return "", err, code
            found, _ = parse(stdout, key)
            lines += [ln for ln in stdout.splitlines() if ln.split(" ")[1:2] not in (["_progress"], ["_done"])]
            pending = [f for f in pending if f not in found]
            if found.get("_done") or not pending:
                break
            steps = [str(decode(b).get("step", "")) for b in found.get("_progress", [])]
            last = steps[-1] if steps else ""
            why = (f"the grader's process stopped while this ran (os._exit, a crash, or past the "
                   f"{self.probe_timeout:g} s time limit)")
            if last.startswith("cell "):
                skip_cells[int(last.split()[1])] = why
            elif last.startswith("function ") and last.split()[1] in pending:
                function = last.split()[1]
                pending.remove(function)
                lines.append(_signed_line(key, function, {"probe_error": f"{function}: {why}"}))
            else:
                break
            self.log.warning("the probe process stopped in %s: it runs again without it", last)
        names = [name for name, _ in state["cells"]]
        lines.append(_signed_line(key, "_skipped", {"cells": [(names[k], why) for k, why in skip_cells.items()]}))
        return "\n".join(lines) + "\n", err, code

    def _probe_once(self, state: dict, key: bytes, skip_cells: list[int], functions: list[str]):
        job = {"key": key.hex(), "timeout": float(self.probe_timeout), "functions": functions, "skip_cells": skip_cells,
               "cells": [list(c) for c in state["cells"]], "inputs": state["inputs"]}
        root = Path(CourseDirectory(config=self.config).root).resolve()
        cap = 4 * MAX_RESULT_BYTES * (len(functions) + 4)
        with tempfile.TemporaryDirectory(prefix="lstm-probe-") as private, \
                tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            runner = Path(private) / RUNNER.name
            shutil.copy(RUNNER, runner)
            cmd = [sys.executable, "-m", f"{__package__}.confine", f"--tmp={private}", f"--memory={self.probe_memory}",
                   f"--file-size={2**30}", f"--sandbox={int(self.probe_sandbox)}", f"--deny={root}", "--",
                   sys.executable, "-I", str(runner)]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, start_new_session=True,
                                    cwd=root)
            try:
                proc.stdin.write(encode(job))
                proc.stdin.close()
            except OSError:  # it died before it read its job: its exit status says why
                pass
            # A watchdog rather than one long time-out: the runner stops each cell and function itself after
            # probe_timeout; the process is stopped when nothing new has come for that long plus a margin.
            grace, size = self.probe_timeout + 15, 0
            deadline = time.monotonic() + self.startup_timeout + grace
            while proc.poll() is None:
                time.sleep(0.05)
                now, current = time.monotonic(), os.fstat(out.fileno()).st_size
                if current != size:
                    size, deadline = current, now + grace
                elif now > deadline:
                    self.log.error("the probe process sent nothing for %.0f s and was stopped", grace)
                    break
                if size > cap:
                    self.log.error("the probe process wrote more than its results can hold and was stopped")
                    break
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # and anything it started
            except ProcessLookupError:
                pass
            proc.wait()
            out.seek(0)
            text = out.read(cap).decode("ascii", "replace")
            err.seek(0, 2)
            err.seek(max(0, err.tell() - 4000))
            return text, err.read().decode("utf-8", "replace"), proc.returncode

    def _verdicts(self, state: dict, checks, stdout: str, stderr: str, who: str):
        found, forged = parse(stdout, state["key"])
        failures: dict[str, list[tuple[str, str]]] = {}
        notes: dict[str, list[str]] = {}
        cells: dict[str, str] = {}
        with _memory_cap(self.judge_memory):
            if forged:
                self.log.warning("TAMPER %s: %d result line(s) not written by the grader's probe", who, forged)
                why = (f"the grader's probe output holds {forged} result line(s) that the grader did not write: code "
                       f"in this notebook wrote them, so no test of this notebook earns points")
                for function in checks.FUNCTIONS:
                    failures.setdefault(function, []).append(("visible", why))
            for record in ("_cells", "_skipped"):
                for blob in found.get(record, [])[:self.max_restarts + 2]:
                    try:
                        cells.update({str(k): str(v) for k, v in decode(blob)["cells"]})
                    except Exception:
                        pass
            for function in checks.FUNCTIONS:
                try:
                    payload = self._payload(found.get(function, []), function, cells, stderr)
                    failures.setdefault(function, []).extend(self._behaviour(function, payload, checks))
                    if not failures[function]:
                        failures[function] = checks.verdict(function, state["inputs"][function], payload["results"])
                except ProbeError as err:
                    failures.setdefault(function, []).append(("visible", f"{function}: {err}"))
                except MemoryError:
                    failures.setdefault(function, []).append(("visible", f"{function}: oversized result"))
                except Exception as err:  # a result of a shape the checks did not foresee: it is not the right one
                    failures.setdefault(function, []).append(
                        ("visible", f"{function}: unusable result ({type(err).__name__}: {str(err)[:200]})"))
        broken = [f"{name}: {status}" for name, status in cells.items() if status != "ok"]
        if broken:
            for function in checks.FUNCTIONS:
                notes.setdefault(function, []).append(
                    "In the grader's run (the setup cell and your own cells, without the tests), " + "; ".join(broken))
        return failures, notes

    @staticmethod
    def _payload(blobs: list[str], function: str, cells: dict, stderr: str) -> dict:
        if len(blobs) != 1:
            raise ProbeError("missing result (the grader's probe did not finish: a cell or the function ran past the "
                             "time or memory limit, or stopped the process)" if not blobs else
                             f"{len(blobs)} results where one was expected")
        payload = decode(blobs[0])
        if not isinstance(payload, dict):
            raise ProbeError("malformed result")
        if "probe_error" in payload:
            raise ProbeError(str(payload["probe_error"])[:400])
        if "results" not in payload:
            raise ProbeError("malformed result (no results)")
        return payload

    @staticmethod
    def _behaviour(function: str, payload: dict, checks) -> list[tuple[str, str]]:
        """What the recorded operators say: PyTorch's LSTM or autograd where the function must do without them."""
        if payload.get("recorder") != "ok":
            return [("visible", f"{function}: {payload.get('recorder')}; the grader cannot tell what it ran, so it "
                     f"earns no points")]
        out = []
        lstm = [str(n) for n in payload.get("lstm_ops", [])][:4]
        if function in getattr(checks, "NO_PYTORCH_LSTM", ()) and lstm:
            out.append(("visible", f"{function} ran PyTorch's own LSTM ({', '.join(lstm)}) while the grader called it: "
                        f"write the gate equations yourself; calling PyTorch's LSTM earns no points here"))
        grads = [str(n) for n in payload.get("autograd_ops", [])][:3]
        if function in getattr(checks, "NO_AUTOGRAD", ()) and grads:
            out.append(("visible", f"{function} ran PyTorch's autograd ({', '.join(grads)}) while the grader called "
                        f"it: write the gradients yourself; gradients from autograd earn no points here"))
        return out

    # ------------------------------------------------------------------------------- static findings
    def _apply_findings(self, findings: list, checks, failures: dict, notes: dict, who: str) -> None:
        tamper = [f for f in findings if f.kind == "tamper"]
        advice = [f for f in findings if f.kind != "tamper"]
        if tamper:
            self.log.warning("TAMPER %s: %s", who, "; ".join(map(str, tamper)))
        if advice:
            self.log.warning("REVIEW %s (advice only, no points deducted): %s", who, "; ".join(map(str, advice)))
        if tamper and self.penalize_flagged:
            why = (f"the grader found {tamper[0]} in your code. Code that can change what the grader sees is not "
                   f"allowed in these notebooks, so no test of this notebook earns points (ask your instructor if "
                   f"you think this is a mistake)")
            for function in checks.FUNCTIONS:
                failures.setdefault(function, []).insert(0, ("visible", why))
        for f in advice:
            targets = [f.cell] if f.cell in checks.FUNCTIONS else list(checks.FUNCTIONS[:1])
            for function in targets:
                notes.setdefault(function, []).append(
                    f"Note from the grader (no points deducted): {f.construct!r} in {f.cell}, line {f.line}: {f.why}. "
                    f"The points come from running your function, and only what it did counts.")

    # ----------------------------------------------------------------------------------- test cells
    @staticmethod
    def _mark(nb: NotebookNode, checks, failures: dict, notes: dict) -> None:
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if not _grade(cell) or cell.cell_type != "code":
                continue
            # nbgrader reads a number in a test cell's execute_result as partial credit, and any error as 0: the
            # kernel's outputs are advice now, so neither may stay as it is.
            outputs = [_as_advice(o) for o in cell.get("outputs", [])]
            for function in checks.FUNCTIONS:
                if gid in (f"test_{function}", f"test_{function}_hidden"):
                    hidden = gid.endswith("_hidden")
                    mine = [m for group, m in failures.get(function, []) if hidden or group == "visible"]
                    told = [_stream("\n".join(notes.get(function, [])) + "\n")] if notes.get(function) and not hidden else []
                    outputs = ([_verdict(mine)] if mine else []) + told + outputs
            cell.outputs = outputs


@contextmanager
def _memory_cap(extra: int):
    """This process may allocate at most ``extra`` more bytes of data memory while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    try:
        with open("/proc/self/status") as f:
            used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))
        cap = used + extra
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft == resource.RLIM_INFINITY or cap < soft:
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _signed_line(key: bytes, function: str, payload: dict) -> str:
    """A result line the judge writes itself (a function whose probe died): signed like the probe's own."""
    import base64
    blob = base64.b64encode(encode(payload)).decode("ascii")
    return f"{MARKER} {function} {blob} {sign(key, function, blob)}"


def _as_advice(output: NotebookNode) -> NotebookNode:
    """A kernel output of a test cell as nbgrader must not score it: an execute_result (read as partial credit)
    becomes a display, text on standard error (read as a failure: a student's debug print) goes to stdout, an error
    becomes a note that it cost nothing."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return _stream(output.get("text", ""))
    if output.get("output_type") == "execute_result":
        return NotebookNode(output_type="display_data", data=output.get("data", {}), metadata=output.get("metadata", {}))
    if output.get("output_type") == "error":
        import re
        tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output.get("traceback", [])[-3:]))
        return _stream(f"The notebook's own test raised {output.get('ename')}: {output.get('evalue')}\n"
                       f"(advice only: the points come from the grader's own run of your function)\n{tb}\n")
    return output


def _stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _verdict(messages: list[str]) -> NotebookNode:
    shown = messages[:3] + ([f"... and {len(messages) - 3} more"] if len(messages) > 3 else [])
    text = "The grader's checks failed: " + " | ".join(shown)
    return NotebookNode(output_type="error", ename=ENAME, evalue=text, traceback=[f"\x1b[0;31m{ENAME}\x1b[0m: {text}"])
