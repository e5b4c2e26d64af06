"""Notebook glue that works in the built book, in Jupyter and in Colab.

The book's chapters put every number that appears in their prose through myst-nb's ``glue``, so
the text is filled in from the executed cell. myst-nb comes with the book toolchain (the course's
``.venv``) but not with Colab; there :func:`glue` simply shows the value (or nothing), so the same
chapter runs unchanged everywhere.
"""
from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = True) -> None:
    """Record ``value`` under ``name`` for the book's ``{glue}`` roles.

    Args:
        name: the key the chapter's markdown refers to, e.g. ``{glue:text}`lstm_acc:.1%```.
        value: a plain Python value (float, int, str, list/dict of them) or a displayable object.
        display: also show the value in the notebook. Default: ``True``.

    With myst-nb importable this is ``myst_nb.glue``; without it (Colab, a bare Jupyter) the value
    is only displayed when ``display`` is true.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
