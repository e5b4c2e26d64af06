"""Do any of a matplotlib figure's words overlap? Used on every figure the book shows.

`overlaps(fig)` lays the figure out as it will be drawn and returns one line per pair of texts
whose boxes intersect: titles, the suptitle, axis labels, tick labels, legend entries and texts
placed on the figure or its axes (except two one-character texts in the same axes: those are
markers, which may touch like the points of a scatter plot). Two subplots' titles and labels running into each other, or
tick labels crowded into a smear, are what a reader cannot read.

`install(log_path)` runs inside a book chapter's kernel (tests/booktools.py starts every chapter's
kernel with an IPython startup file that calls it): each time a figure is rendered for display it
appends ``{"cell_sha1": …, "problems": […], "texts": n}`` to `log_path`, where `cell_sha1` is the
SHA-1 of the source of the cell that drew it. tests/test_book.py matches the records to the
executed notebooks' image outputs.
"""
from __future__ import annotations

import hashlib
import json
from itertools import combinations

MIN_OVERLAP_PX = 1.0  # boxes that share more than a pixel in both directions overlap


def cell_sha1(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()


def _texts(fig) -> list[tuple[str, str, object]]:  # noqa: ANN001  (a matplotlib Figure)
    """(role, text, window extent) of every visible, non-empty text of the laid-out figure."""
    fig.draw_without_rendering()  # runs the layout engine (constrained/tight) as a draw would
    renderer = fig.canvas.get_renderer()
    found: list[tuple[str, str, object]] = []

    def add(role: str, t) -> None:  # noqa: ANN001
        if t is None or not t.get_visible() or not t.get_text().strip():
            return
        box = t.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            found.append((role, t.get_text(), box))

    for t in fig.texts:  # suptitle, supxlabel, fig.text(...)
        add("figure text", t)
    for n, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"axes {n}"
        for t in (ax.title, ax._left_title, ax._right_title):
            add(f"{where} title", t)
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)) if ax.axison else ():
            add(f"{where} {name} label", axis.label)
            for tick in axis._update_ticks():  # the ticks inside the view limits, as drawn
                if not tick.get_visible():
                    continue
                add(f"{where} {name} tick label", tick.label1)
                add(f"{where} {name} tick label", tick.label2)
            add(f"{where} {name} offset text", axis.offsetText)
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            add(f"{where} legend title", legend.get_title())
            for t in legend.get_texts():
                add(f"{where} legend entry", t)
        for t in ax.texts:
            add(f"{where} text", t)
    for legend in fig.legends:
        for t in legend.get_texts():
            add("figure legend entry", t)
    return found


def overlaps(fig) -> list[str]:  # noqa: ANN001  (a matplotlib Figure)
    """One line per pair of the figure's texts whose boxes overlap (empty when none do)."""
    problems = []
    for (role_a, text_a, a), (role_b, text_b, b) in combinations(_texts(fig), 2):
        if role_a == role_b and role_a.endswith(" text") and len(text_a.strip()) == len(text_b.strip()) == 1:
            continue  # one-glyph texts in a plot (e.g. ↵ at each newline) are markers, like points
        dx = min(a.x1, b.x1) - max(a.x0, b.x0)
        dy = min(a.y1, b.y1) - max(a.y0, b.y0)
        if dx > MIN_OVERLAP_PX and dy > MIN_OVERLAP_PX:
            problems.append(f"{role_a} {text_a!r} overlaps {role_b} {text_b!r} ({dx:.0f}x{dy:.0f} px)")
    return problems


def install(log_path: str) -> None:
    """Record the overlap check of every figure rendered in this IPython kernel (see module doc)."""
    from IPython import get_ipython
    from matplotlib.backend_bases import FigureCanvasBase

    shell = get_ipython()
    if shell is None:
        return
    current = {"source": ""}
    shell.events.register("pre_run_cell", lambda info: current.update(source=info.raw_cell or ""))
    original = FigureCanvasBase.print_figure

    def print_figure(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        result = original(self, *args, **kwargs)
        try:
            problems, texts = overlaps(self.figure), len(_texts(self.figure))
        except Exception as exc:  # the check must never break a chapter; the test reports it
            problems, texts = [f"the overlap check failed: {exc!r}"], 0
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"cell_sha1": cell_sha1(current["source"]), "problems": problems,
                                  "texts": texts}) + "\n")
        return result

    FigureCanvasBase.print_figure = print_figure
