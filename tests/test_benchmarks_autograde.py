"""Smoke test of benchmarks/autograde.py: one student, one assignment, end to end (not a timing test)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_help_describes_the_options():
    done = subprocess.run([sys.executable, "benchmarks/autograde.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0
    assert "--students" in done.stdout and "--jobs" in done.stdout


def test_bad_assignment_is_a_clear_error():
    done = subprocess.run([sys.executable, "benchmarks/autograde.py", "--assignments", "nope"], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "expected assignment ids" in done.stderr


def test_one_student_one_assignment(tmp_path):
    out = tmp_path / "autograde.json"
    done = subprocess.run([sys.executable, "benchmarks/autograde.py", "--students", "1", "--assignments", "gates",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(out.read_text())
    assert record["students"] == 1 and record["assignments"] == ["gates"]
    assert record["seconds_per_submission"]["gates"] > 0
    assert record["class_wall_seconds"] >= sum(record["steps_seconds"].values()) * 0.99
    assert "load_average" in record and "machine" in record
    assert "whole class" in done.stdout
