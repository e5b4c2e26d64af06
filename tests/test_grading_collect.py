"""zip_collect's file-name pattern (nbgrader_config.py) against the whole paths nbgrader gives it (issue 28): the
folders above an LMS file -- a course under /home/jane_doe/, spaces, non-ASCII letters, a zip named with
underscores -- must not change who the file belongs to."""
from __future__ import annotations

import pytest
from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets.config import Config

from nbgrader_course import REPO

NAME = "gates_ada_attempt_20250301-100000_gates.ipynb"
FOLDERS = ["/srv/course/downloaded/gates/extracted", "/home/jane_doe/course/downloaded/gates/extracted",
           "/home/jane doe/Kurs Übung/downloaded/gates/extracted/gates_submissions",
           "/tmp/a_b_c/downloaded/gates/extracted/nested_folder/inner"]


def _plugin() -> FileNameCollectorPlugin:
    c = Config()
    exec(compile((REPO / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"), {"get_config": lambda: c})
    return FileNameCollectorPlugin(config=c)


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_file_name_decides_whatever_the_folders_are_called(folder):
    found = _plugin().collect(f"{folder}/{NAME}")
    assert found is not None, f"{folder}/{NAME} was not collected"
    assert (found["student_id"], found["file_id"], found["timestamp"]) == ("ada", "gates.ipynb", "20250301-100000")


def test_a_file_not_named_the_lms_way_is_skipped():
    assert _plugin().collect("/home/jane_doe/downloaded/gates/extracted/gates.ipynb") is None
