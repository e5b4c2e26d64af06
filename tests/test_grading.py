"""Fast checks of the grading helpers (lstm_course.grading: install, restore, kernel); the whole
workflow, graded for real, is in test_grading_class.py."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import nbformat
import pytest

from lstm_course.grading.install import KERNEL_NAME, install_kernel
from lstm_course.grading.restore import _restore
from lstm_course.grading.kernel import parse_args

from nbgrader_course import REPO


def test_launcher_takes_its_options_and_passes_the_rest_to_ipykernel():
    opts, rest = parse_args(["-f", "conn.json", "--grading-memory=1024", "--grading-sandbox", "0",
                             "--grading-tmp=/x", "--HistoryManager.hist_file=:memory:"])
    assert opts == {"tmp": "/x", "memory": 1024, "file_size": 2**30, "sandbox": 0}
    assert rest == ["-f", "conn.json", "--HistoryManager.hist_file=:memory:"]


def test_install_kernel_writes_a_spec_that_runs_the_launcher(tmp_path):
    folder = install_kernel(str(tmp_path))
    spec = json.loads((folder / "kernel.json").read_text())
    assert folder.name == KERNEL_NAME
    assert spec["argv"][:3] == [sys.executable, "-m", "lstm_course.grading.kernel"]
    assert "{connection_file}" in spec["argv"]


def _sandboxed(tmp_path, code: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from lstm_course.grading.kernel import landlock, readable_paths, set_limits
        set_limits({2**30}, 4096)
        why = landlock(readable_paths(), [Path({str(tmp_path / 'work')!r})], [])
        if why:
            print("NO LANDLOCK:", why)
            sys.exit(0)
    """) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_sandbox_hides_everything_but_the_working_folder(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "secret.txt").write_text("hidden tests")
    done = _sandboxed(tmp_path, f"""
        for path in ({str(tmp_path / 'secret.txt')!r}, {str(REPO / 'solutions')!r}):
            try:
                open(path).read() if path.endswith(".txt") else __import__("os").listdir(path)
                print("READ", path)
            except PermissionError:
                print("DENIED", path)
        Path({str(tmp_path / 'work' / 'out.txt')!r}).write_text("ok")
        try:
            Path({str(tmp_path / 'work' / 'big.bin')!r}).write_bytes(b"x" * 10000)
        except OSError as err:
            print("TOO BIG", err.errno)
        import torch  # the installation stays readable
        print("TORCH", torch.ones(2).sum().item())
    """)
    if done.stdout.startswith("NO LANDLOCK"):
        pytest.skip(done.stdout)  # an older Linux: the grader warns and runs with the limits only
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("DENIED") == 2 and "READ" not in done.stdout, done.stdout
    assert (tmp_path / "work" / "out.txt").read_text() == "ok"
    assert "TOO BIG 27" in done.stdout  # EFBIG from the file-size cap, not a killed process
    assert "TORCH 2.0" in done.stdout


def _released() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "notebooks" / "gates" / "gates.ipynb", as_version=4)


def test_lost_metadata_is_restored_from_the_released_notebook():
    released = _released()
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    answers = [k for k, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")]
    free = [k for k, c in enumerate(nb.cells) if c.cell_type == "code" and "nbgrader" not in c.metadata]
    assert free, "the released notebook has try-it cells after the tests, without nbgrader metadata"
    for c in nb.cells:
        c.metadata = {"id": "colab"}
    nb.cells[free[0]].source = "print('my own experiment')"  # a try-it cell, edited
    del nb.cells[free[-1]]  # and one deleted: neither is an answer, restoring does not depend on them
    nb.cells[answers[0]].source = "def lstm_cell(*args):\n    return 1"
    nb.cells.insert(answers[0] + 1, nbformat.v4.new_code_cell("helper = 2"))  # a second cell in the gap
    assert _restore(released.cells, nb) == ""
    grade_id = lambda c: c.metadata.get("nbgrader", {}).get("grade_id")
    assert [grade_id(c) for c in nb.cells] == [grade_id(c) for k, c in enumerate(released.cells) if k != free[-1]]
    assert nb.cells[answers[0]].source == "def lstm_cell(*args):\n    return 1\n\nhelper = 2"
    assert nb.cells[free[0]].source == "print('my own experiment')" and "nbgrader" not in nb.cells[free[0]].metadata


def test_lost_metadata_is_not_guessed_when_a_test_cell_changed():
    released = _released()
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    test = next(c for c in nb.cells if c.metadata["nbgrader"].get("grade"))
    test.source = "assert True"
    for c in nb.cells:
        c.metadata = {}
    why = _restore(released.cells, nb)
    assert test.metadata == {} and "test cells not found unchanged" in why
