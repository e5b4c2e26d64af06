"""Shared pytest fixtures. `built_book` builds the whole Jupyter Book once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from booktools import REPO, BuiltBook, build_book

_BUILT: list[BuiltBook] = []


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    """The whole book, built once per test session from a clean execution cache.

    Runs ``jupyter-book build <repo> -W --keep-going --path-output <tmp>`` (the sources are the
    working tree; the build, its execution cache and the executed notebooks go to a temporary
    folder, so the developer's ``_build`` is never touched). Set ``LSTM_COURSE_BOOK_OUT=<dir>`` to
    build into that folder instead and reuse its cache across sessions (only changed chapters
    run again; ``times`` then also holds the times recorded when the others ran).

    Interface (what chapter tests use)::

        built_book.html_dir              # Path of the built site (…/_build/html)
        built_book.times                 # dict stem -> seconds, e.g. {"01_why_gates": 41.2}
        built_book.total_seconds         # sum of times
        built_book.glue("01_why_gates")  # dict name -> value glued with
                                         #   myst_nb.glue(name, value, display=False)
        built_book.executed("01_why_gates")  # nbformat.NotebookNode with the outputs
        built_book.returncode, built_book.log, built_book.warnings

    A claim test looks like::

        @pytest.mark.slow
        def test_ch01_lstm_beats_rnn(built_book):
            g = built_book.glue("01_why_gates")
            assert g["lstm_acc"] > g["rnn_acc"] + 0.3

    Glue plain Python values (``float(x)``, int, str, bool, lists/dicts of them); NumPy scalars
    are unwrapped; anything else comes back as its ``text/plain`` string.
    """
    reuse = os.environ.get("LSTM_COURSE_BOOK_OUT")
    out = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("book")
    book = build_book(REPO, out)
    _BUILT.append(book)
    return book


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print the chapters' execution times (the book build's timing log) after the tests."""
    for book in _BUILT:
        tr = terminalreporter
        tr.section("book: notebook execution times")
        for stem, seconds in book.times.items():
            note = "" if stem in book.executed_now else "  (from the cache)"
            tr.write_line(f"{stem:40s} {seconds:8.1f} s{note}")
        tr.write_line(f"{'total':40s} {book.total_seconds:8.1f} s   (whole build: {book.wall_seconds:.1f} s wall)")
