"""lstm_course.notebook.glue: myst-nb's glue when present, a plain display without it."""
import builtins
import sys

import pytest

from lstm_course.notebook import glue


def test_glue_uses_myst_nb_when_available(monkeypatch):
    calls = []
    fake = type(sys)("myst_nb")
    fake.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    glue("acc", 0.5, display=False)
    assert calls == [("acc", 0.5, False)]


@pytest.mark.parametrize("display, expected", [(True, [0.25]), (False, [])])
def test_glue_without_myst_nb_only_displays(monkeypatch, display, expected):
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name == "myst_nb":
            raise ImportError("no myst_nb here (as in Colab)")
        return real_import(name, *args, **kwargs)

    shown = []
    monkeypatch.setattr(builtins, "__import__", no_myst)
    monkeypatch.setattr("IPython.display.display", lambda value: shown.append(value))
    glue("acc", 0.25, display=display)
    assert shown == expected
