"""Feedback without the hidden tests: the ``generate_feedback`` step named in ``nbgrader_config.py``.

nbgrader's feedback HTML is the whole graded notebook, and the graded notebook holds the hidden tests: nbgrader
restores every test cell from the gradebook, ``### BEGIN HIDDEN TESTS`` region included, before it runs it
(nbgrader issue #917). :class:`HideHiddenTests` runs in ``GenerateFeedback`` after nbgrader's ``GetGrades``
and, in the notebook that becomes the HTML (never in ``autograded/`` or the gradebook):

- replaces each hidden region of a test cell's source by one comment line that names the test cell and
  gives its points and result, e.g. ``# test_lstm_cell_hidden: 0 of 3 points, failed. ...``;
- removes, from every output of every cell, each line that contains a line of hidden-test source: the
  traceback of a failing hidden test quotes the lines around the failure, and a student's own cell can
  print what ran before it (``print(In)``). The error's type and message (the ``assert`` text a student is
  meant to read) stay, unless the message itself quotes hidden source.

Lines of a hidden region that also occur outside hidden regions (``try:``, ``)``, a line the student wrote
themselves) are no secret and are not searched for. Nothing here runs student code.
"""
from __future__ import annotations

import html
import re

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REMOVED_RUN = "[hidden-test lines"
REMOVED = REMOVED_RUN + " not shown in the feedback]"
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/javascript")


class HideHiddenTests(NbGraderPreprocessor):
    """Take hidden-test source out of the feedback; keep each hidden test's name, points, result and message."""

    begin = Unicode("BEGIN HIDDEN TESTS", help="Marks the first line of a hidden region (as nbgrader's "
                    "ClearHiddenTests.begin_test_delimeter).").tag(config=True)
    end = Unicode("END HIDDEN TESTS", help="Marks the last line of a hidden region.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        hidden: list[str] = []
        for cell in nb.cells:
            if cell.cell_type == "code" and self.begin in cell.source:
                cell.source, lines = self._strip(cell)
                hidden += lines
        shown = {line.strip() for cell in nb.cells for line in cell.source.splitlines()}
        secrets = sorted({s for s in (line.strip() for line in hidden) if s and s not in shown}, key=len)
        removed = 0
        if secrets:
            for cell in nb.cells:
                for output in cell.get("outputs", []):
                    removed += _scrub_output(output, secrets)
        if hidden:
            self.log.info("%s/%s: %d lines of hidden tests left out of the feedback, %d output lines removed",
                          resources.get("nbgrader", {}).get("student", "?"),
                          resources.get("nbgrader", {}).get("notebook", "?"), len(hidden), removed)
        return nb, resources

    def _strip(self, cell: NotebookNode) -> tuple[str, list[str]]:
        """The cell's source with each hidden region replaced by a summary line; and the removed lines."""
        kept, removed, inside = [], [], False
        for line in cell.source.splitlines():
            if not inside and self.begin in line:
                inside = True
                kept.append(_summary(cell))
            elif inside and self.end in line:
                inside = False
            elif inside:
                removed.append(line)
            else:
                kept.append(line)
        return "\n".join(kept), removed


def _summary(cell: NotebookNode) -> str:
    meta = cell.metadata.get("nbgrader", {})
    name, points, score = meta.get("grade_id", "hidden tests"), meta.get("points"), meta.get("score")
    if points is None or score is None:
        return f"# {name}: hidden tests, not shown in the feedback."
    verdict = "passed" if score >= points else "failed: the error below says what they found"
    return f"# {name}: {score:g} of {points:g} points, {verdict}.\n# (The hidden tests themselves are not shown.)"


TRACEBACK_PREFIX = re.compile(r"^\s*-*>?\s*\d+\s")  # IPython's "---> 12 " / "     13 " before a source line
SHORT = 20  # secrets shorter than this are matched as whole lines only ("return", "x = 1"), longer ones anywhere


def _quotes(line: str, secrets: list[str]) -> bool:
    # the line as shown, and as it reads once HTML entities or a repr's escaped quotes are decoded
    # (display(HTML(...)) of the source, print(In) of a list of cells)
    forms = {line, html.unescape(line), line.replace("\\'", "'").replace('\\"', '"')}
    bares = {TRACEBACK_PREFIX.sub("", form).strip() for form in forms}
    return any(s in bares if len(s) < SHORT else any(s in form for form in forms) for s in secrets)


def _scrub_text(text: str, secrets: list[str]) -> tuple[str, int]:
    """Every line quoting a secret replaced by one marker (a run of them by one marker); and how many."""
    kept, hits = [], 0
    for line in ANSI.sub("", text).split("\n"):
        if _quotes(line, secrets):
            hits += 1
            if kept and kept[-1].startswith(REMOVED_RUN):
                continue
            kept.append(REMOVED)
        else:
            kept.append(line)
    return "\n".join(kept), hits


def _scrub_output(output: NotebookNode, secrets: list[str]) -> int:
    """Remove every line quoting hidden source from one output, in place; returns how many were removed."""
    hits = 0
    if "text" in output:
        text = output.text if isinstance(output.text, str) else "".join(output.text)
        output.text, n = _scrub_text(text, secrets)
        hits += n
    if output.get("output_type") == "error":
        output.evalue, n = _scrub_text(str(output.get("evalue", "")), secrets)
        hits += n
        traceback = []
        for entry in output.get("traceback", []):
            entry, n = _scrub_text(entry, secrets)
            traceback.append(entry)
            hits += n
        output.traceback = traceback
    data = output.get("data", {})
    for mime in list(data):
        if mime in TEXT_TYPES:
            value = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
            data[mime], n = _scrub_text(value, secrets)
            hits += n
        elif not mime.startswith("image/"):
            del data[mime]  # widgets, JSON, ...: not shown as text, and could carry anything
            hits += 1
    return hits
