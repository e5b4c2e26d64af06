"""The contract coverage tables of the graded notebooks are complete and name real submissions.

Each hidden test cell of ``solutions/<id>/<id>.ipynb`` starts with a "Contract coverage" comment: the clauses
of the function's contract, the tests that fail when a clause is broken, and the wrong-but-plausible
submission in ``grading_variants.py`` that shows it (``test_graded_notebooks.py`` grades every one of them for
real and checks that it loses points in that function and only there). Here: every variant a table names
exists and loses points in that table's function, and every wrong variant appears in its function's table.
"""
from __future__ import annotations

import re

import nbformat
import pytest

import grading_variants
from nbgrader_course import REPO

ASSIGNMENTS = {"gates": grading_variants.GATES, "detaching": grading_variants.DETACHING,
               "temperature": grading_variants.TEMPERATURE, "backward": grading_variants.BACKWARD}


def coverage_tables(assignment: str) -> dict[str, str]:
    """function -> the text of its hidden test cell's coverage comment."""
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    tables = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if not (gid.startswith("test_") and gid.endswith("_hidden")):
            continue
        body = cell.source.split("### BEGIN HIDDEN TESTS\n", 1)[1]
        lines = body.splitlines()
        assert lines[0].startswith("# Contract coverage"), f"{assignment}/{gid}: no contract coverage comment"
        block = []
        for line in lines:
            if not line.startswith("#"):
                break
            block.append(line)
        tables[gid[len("test_"):-len("_hidden")]] = "\n".join(block)
    return tables


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_every_named_mistake_is_a_graded_wrong_variant_of_that_function(assignment):
    variants = {v.name: v for v in ASSIGNMENTS[assignment]}
    for function, table in coverage_tables(assignment).items():
        for name in re.findall(r'"([^"]+)"', table):
            assert name in variants, f"{assignment}/{function}: the table names {name!r}, not in grading_variants.py"
            assert variants[name].lose == (function,), f"{assignment}: {name!r} should lose points in {function} only"


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_every_wrong_variant_is_in_its_functions_table(assignment):
    tables = coverage_tables(assignment)
    for variant in ASSIGNMENTS[assignment]:
        for function in variant.lose:
            assert f'"{variant.name}"' in tables[function], (
                f"{assignment}: the wrong variant {variant.name!r} is not in the coverage table of {function}")


def _repository_base() -> str:
    import yaml
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    repo = config["repository"]
    return f"{repo['url'].rstrip('/')}/blob/{repo.get('branch', 'main')}/"


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_links_to_the_book_work_where_the_notebook_is_opened(assignment):
    # Colab and a downloaded copy have no ../../book/: links are absolute, to chapters that exist
    nb = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    links = [url for c in nb.cells if c.cell_type == "markdown" for url in re.findall(r"\]\(([^)\s]+)\)", c.source)]
    assert links, f"{assignment}: the notebook should link to its chapter"
    base = _repository_base()
    for url in links:
        assert url.startswith(("https://", "http://")), f"{assignment}: relative link {url!r} breaks in Colab"
        if url.startswith(base):
            assert (REPO / url[len(base):]).exists(), f"{assignment}: {url} names no file of the repository"
