"""Sphinx extension: number sphinx-exercise exercises per page (Exercise 1, 2, … in every chapter).

Without numbered sections, Sphinx numbers an enumerable node type across the whole book, so chapter 2's
first self-check question would be "Exercise 8". The chapters' prose refers to their own questions
("exercise 5"), so after Sphinx has assigned the numbers, each page's exercises are renumbered from 1 in
page order; references and the "Solution to Exercise n" titles read the same table.
"""
from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment


def number_per_page(app: Sphinx, env: BuildEnvironment) -> list[str]:
    for numbers in env.toc_fignumbers.values():
        exercises = numbers.get("exercise")
        if exercises:
            for k, node_id in enumerate(sorted(exercises, key=exercises.get), 1):
                exercises[node_id] = (k,)
    return []


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    # after Sphinx's TocTreeCollector (priority 500) has assigned the book-wide numbers in env-get-updated;
    # the pages whose numbers that changes are the ones Sphinx already marks for writing
    app.connect("env-get-updated", number_per_page, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
