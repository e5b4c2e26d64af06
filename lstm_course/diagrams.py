"""Diagrams drawn by code (matplotlib): the LSTM cell, the unrolled network, the encoder–decoder.

The cell diagram takes its gate names and nonlinearities from the same tuple the package computes
with (:data:`lstm_course.cell.GATES`, order i, f, g, o), so the picture and the code cannot drift
apart. Every function draws on ``ax`` if given (else on a new figure), switches the axis frame
off and returns the ``Axes``; the labels are ``Text`` artists a test can find and measure.
"""
from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyBboxPatch

from lstm_course.cell import GATES

__all__ = ["GATE_ACTIVATION", "GATE_ROLE", "draw_lstm_cell", "draw_unrolled", "draw_encoder_decoder"]

GATE_ACTIVATION = {"i": r"$\sigma$", "f": r"$\sigma$", "g": "tanh", "o": r"$\sigma$"}
GATE_ROLE = {"i": "input", "f": "forget", "g": "candidate", "o": "output"}

_GATE_COLOR = "#cfe3f7"
_OP_COLOR = "#fde7c8"
_CELL_COLOR = "#f4f4f4"
_LINE = dict(color="#333333", lw=1.4)


def _new_ax(ax: Optional[Axes], size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    ax.set_axis_off()
    ax.set_aspect("equal")
    return ax


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **kw) -> None:
    style = dict(arrowstyle="-|>", shrinkA=0, shrinkB=0, mutation_scale=11, **_LINE)
    style.update(kw)
    ax.annotate("", xy=end, xytext=start, arrowprops=style)


def _line(ax: Axes, xs: Sequence[float], ys: Sequence[float], **kw) -> None:
    ax.plot(xs, ys, solid_capstyle="round", **{**_LINE, **kw})


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, color: str, fontsize: float = 10) -> None:
    """A rounded box centred at (x, y) with ``text`` in its middle."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, edgecolor="#333333", lw=1.2, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _op(ax: Axes, x: float, y: float, symbol: str, r: float = 0.24) -> None:
    """A pointwise operation (×, +, tanh) as a circle."""
    ax.add_patch(Circle((x, y), r, facecolor=_OP_COLOR, edgecolor="#333333", lw=1.2, zorder=2))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=10 if len(symbol) == 1 else 7, zorder=3)


def draw_lstm_cell(ax: Optional[Axes] = None, gates: Sequence[str] = GATES) -> Axes:
    """One LSTM step: the cell path along the top, the four gates, the pointwise operations.

    Args:
        ax: draw here; ``None`` = a new figure. Default: ``None``.
        gates: the gate names, in the package's order (default :data:`lstm_course.cell.GATES`);
            each must be one of ``i, f, g, o``.

    Returns:
        the ``Axes``. The top line is the cell state: ``c_{t-1}`` is multiplied by ``f`` and has
        ``i * g`` added to it, nothing else; ``h_t = o * tanh(c_t)``.
    """
    unknown = [g for g in gates if g not in GATE_ROLE]
    if sorted(gates) != sorted(GATE_ROLE) or unknown:
        raise ValueError(f"expected the four gates i, f, g, o in some order, got {tuple(gates)}")
    ax = _new_ax(ax, (9.5, 5.6))
    top, gate_y, bus_y = 5.0, 2.6, 0.9
    x_of = {"f": 2.4, "i": 3.9, "g": 5.4, "o": 6.9}  # left to right in the order the signal needs them
    ax.add_patch(FancyBboxPatch((1.0, 0.45), 8.3, 5.0, boxstyle="round,pad=0,rounding_size=0.3",
                                facecolor=_CELL_COLOR, edgecolor="#999999", lw=1.0, zorder=0))
    # the cell path: c_{t-1} -> x f -> + i*g -> c_t
    x_mul_f, x_add, x_tanh = x_of["f"], (x_of["i"] + x_of["g"]) / 2, 8.3
    _line(ax, [0.55, x_mul_f - 0.24], [top, top])
    _line(ax, [x_mul_f + 0.24, x_add - 0.24], [top, top])
    _arrow(ax, (x_add + 0.24, top), (9.9, top))
    _op(ax, x_mul_f, top, "×")
    _op(ax, x_add, top, "+")
    ax.text(0.5, top, r"$c_{t-1}$", ha="right", va="center", fontsize=12)
    ax.text(10.0, top, r"$c_t$", ha="left", va="center", fontsize=12)
    # inputs: h_{t-1} from the left and x_t from below join one bus that feeds every gate
    _line(ax, [0.55, x_of["o"]], [bus_y, bus_y])
    ax.text(0.5, bus_y, r"$h_{t-1}$", ha="right", va="center", fontsize=12)
    _arrow(ax, (1.5, -0.35), (1.5, bus_y))
    ax.text(1.5, -0.45, r"$x_t$", ha="center", va="top", fontsize=12)
    bw, bh = 1.15, 1.0
    for name in gates:
        gx = x_of[name]
        _arrow(ax, (gx, bus_y), (gx, gate_y - bh / 2))
        _box(ax, gx, gate_y, bw, bh, f"{name}  {GATE_ACTIVATION[name]}\n{GATE_ROLE[name]}", _GATE_COLOR, fontsize=9)
    # f scales the old cell state; i * g is what is written
    _arrow(ax, (x_of["f"], gate_y + bh / 2), (x_mul_f, top - 0.24))
    y_ig = 3.95
    _op(ax, x_add, y_ig, "×")
    _arrow(ax, (x_of["i"], gate_y + bh / 2), (x_add - 0.2, y_ig - 0.14))
    _arrow(ax, (x_of["g"], gate_y + bh / 2), (x_add + 0.2, y_ig - 0.14))
    _arrow(ax, (x_add, y_ig + 0.24), (x_add, top - 0.24))
    # h_t = o * tanh(c_t)
    _op(ax, x_tanh, 4.0, "tanh", r=0.3)
    _arrow(ax, (x_tanh, top), (x_tanh, 4.3))
    _op(ax, x_tanh, gate_y, "×")
    _arrow(ax, (x_tanh, 3.7), (x_tanh, gate_y + 0.24))
    _arrow(ax, (x_of["o"] + bw / 2, gate_y), (x_tanh - 0.24, gate_y))
    _line(ax, [x_tanh, x_tanh], [gate_y - 0.24, bus_y])
    _arrow(ax, (x_tanh, bus_y), (9.9, bus_y))
    ax.text(10.0, bus_y, r"$h_t$", ha="left", va="center", fontsize=12)
    ax.text(5.2, 5.75, r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$      $h_t = o_t \odot \tanh(c_t)$",
            ha="center", va="bottom", fontsize=11)
    ax.set_xlim(-0.6, 10.8)
    ax.set_ylim(-1.2, 6.4)
    ax.set_title("One LSTM step (gate order " + ", ".join(gates) + ")", fontsize=11)
    return ax


def draw_unrolled(steps: int = 4, cell: str = "LSTM", ax: Optional[Axes] = None, gradients: bool = False) -> Axes:
    """The same cell applied at every time step, with the state passed along.

    Args:
        steps: number of time steps drawn (1..8). Default: 4.
        cell: ``"LSTM"`` (state h, c), ``"GRU"`` or ``"RNN"`` (state h). Default: ``"LSTM"``.
        ax: draw here; ``None`` = a new figure. Default: ``None``.
        gradients: also draw the backward pass (dashed, right to left) as BPTT walks it. Default: ``False``.
    """
    if not isinstance(steps, int) or not 1 <= steps <= 8:
        raise ValueError(f"expected steps to be an int in 1..8, got {steps!r}")
    if cell not in ("LSTM", "GRU", "RNN"):
        raise ValueError(f"expected cell 'LSTM', 'GRU' or 'RNN', got {cell!r}")
    ax = _new_ax(ax, (1.0 + 2.1 * steps, 3.6 if gradients else 3.2))
    dx, y, bw, bh = 2.6, 1.5, 1.3, 0.9

    def state(t: int) -> str:
        return rf"$h_{{{t}}}, c_{{{t}}}$" if cell == "LSTM" else rf"$h_{{{t}}}$"

    for t in range(1, steps + 1):
        cx = t * dx
        _box(ax, cx, y, bw, bh, f"{cell}\ncell", _GATE_COLOR, fontsize=9)
        _arrow(ax, (cx, 0.25), (cx, y - bh / 2))
        ax.text(cx, 0.15, rf"$x_{{{t}}}$", ha="center", va="top", fontsize=11)
        _arrow(ax, (cx, y + bh / 2), (cx, 2.75))
        ax.text(cx, 2.85, rf"$h_{{{t}}}$", ha="center", va="bottom", fontsize=11)
        _arrow(ax, (cx - dx + bw / 2 if t > 1 else cx - dx + 0.9, y), (cx - bw / 2, y))
        ax.text(cx - dx / 2 - (0.15 if t == 1 else 0), y + 0.12, state(t - 1), ha="center", va="bottom", fontsize=9)
        if gradients:
            _arrow(ax, (cx - bw / 2, y - 0.3), (cx - dx + (bw / 2 if t > 1 else 0.9), y - 0.3),
                   color="#c0392b", linestyle="--")
    ax.text((steps + 1) * dx - 0.95, y + 0.12, state(steps), ha="center", va="bottom", fontsize=9)
    _arrow(ax, (steps * dx + bw / 2, y), ((steps + 1) * dx - 0.3, y))
    if gradients:
        ax.text((steps + 1) * dx / 2 + 0.3, -0.55, "dashed: the gradient flowing back, step by step (BPTT)",
                ha="center", va="top", fontsize=9, color="#c0392b")
    ax.set_xlim(0.3, (steps + 1) * dx + 0.2)
    ax.set_ylim(-1.0 if gradients else -0.5, 3.4)
    article = "A" if cell == "GRU" else "An"  # an L-S-T-M, an R-N-N, a G-R-U
    ax.set_title(f"{article} {cell} unrolled over {steps} steps: the same weights at every step", fontsize=11)
    return ax


def draw_encoder_decoder(source: Sequence[str] = ("1", "5", "/", "3"), target: Sequence[str] = ("0", "3", "-", "1"),
                         ax: Optional[Axes] = None, start: str = "<s>") -> Axes:
    """An encoder LSTM reads the source; its final state starts a decoder LSTM that writes the target.

    The decoder's input at each step is the previous target token (``start`` first): the real one
    during training (teacher forcing), its own previous output when generating.

    Args:
        source, target: the tokens drawn (1..8 each). Defaults: a short date pair.
        ax: draw here; ``None`` = a new figure. Default: ``None``.
        start: the start-of-sequence token. Default: ``"<s>"``.
    """
    for name, seq in (("source", source), ("target", target)):
        if not 1 <= len(seq) <= 8:
            raise ValueError(f"expected 1..8 {name} tokens, got {len(seq)}")
    n, m = len(source), len(target)
    ax = _new_ax(ax, (1.2 + 1.05 * (n + m), 3.0))  # compact: stays legible when a page scales it down
    dx, y, bw, bh = 1.6, 1.6, 1.0, 0.8
    enc_x = [0.8 + dx * k for k in range(n)]
    dec_x = [enc_x[-1] + 2.0 * dx + dx * k for k in range(m)]
    for k, cx in enumerate(enc_x):
        _box(ax, cx, y, bw, bh, "enc", "#d9f0d3", fontsize=9)
        _arrow(ax, (cx, 0.35), (cx, y - bh / 2))
        ax.text(cx, 0.25, source[k], ha="center", va="top", fontsize=11, family="monospace")
        if k:
            _arrow(ax, (enc_x[k - 1] + bw / 2, y), (cx - bw / 2, y))
    _arrow(ax, (enc_x[-1] + bw / 2, y), (dec_x[0] - bw / 2, y), color="#1f5fa8", lw=2.2)
    ax.text((enc_x[-1] + dec_x[0]) / 2, y + 0.12, "final\nstate", ha="center", va="bottom", fontsize=9,
            color="#1f5fa8")
    inputs = [start, *target[:-1]]
    for k, cx in enumerate(dec_x):
        _box(ax, cx, y, bw, bh, "dec", _GATE_COLOR, fontsize=9)
        _arrow(ax, (cx, 0.35), (cx, y - bh / 2))
        ax.text(cx, 0.25, inputs[k], ha="center", va="top", fontsize=11 if len(inputs[k]) == 1 else 9,
                family="monospace")
        _arrow(ax, (cx, y + bh / 2), (cx, 2.75))
        ax.text(cx, 2.85, target[k], ha="center", va="bottom", fontsize=11, family="monospace")
        if k:
            _arrow(ax, (dec_x[k - 1] + bw / 2, y), (cx - bw / 2, y))
    ax.text((enc_x[0] + enc_x[-1]) / 2, -0.5, "encoder reads the source", ha="center", va="top", fontsize=10)
    ax.text((dec_x[0] + dec_x[-1]) / 2, -0.5, "decoder input: the previous target token", ha="center",
            va="top", fontsize=10)
    ax.set_xlim(0.0, dec_x[-1] + 0.9)
    ax.set_ylim(-1.1, 3.5)
    ax.set_title("Encoder–decoder: the source is read into a state, the target written from it", fontsize=11)
    return ax
