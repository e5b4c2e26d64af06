"""Pictures of training and of the inside of an LSTM (matplotlib), and a per-character HTML view.

Every plotting function takes an optional ``ax`` (draws there) or creates its own figure, gives the
plot a title and labelled axes, and returns what it drew on so a notebook can adjust it.
Legend: T time steps (characters), H hidden units, S source characters.
"""
from __future__ import annotations

import hashlib
import html
import itertools
import json
import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from lstm_course.training import History

__all__ = ["plot_learning_curves", "plot_gates", "plot_hidden_heatmap", "plot_attention", "html_activation",
           "HTMLActivation", "static_sliders", "StaticSliders"]

_GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "cell candidate g", "o": "output gate o",
               "c": "cell state c", "h": "hidden state h"}
_UNITS = {"bits": ("bits/char", 1 / math.log(2)), "nats": ("nats/char", 1.0)}


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor on any device
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _char_label(ch: str) -> str:
    # make whitespace visible as a tick label
    return {" ": "␣", "\n": "↵", "\t": "→"}.get(ch, ch)


def _char_ticks(ax: Axes, text: str, axis: str = "x", max_ticks: int = 80) -> None:
    n = len(text)
    step = max(1, math.ceil(n / max_ticks))  # long texts: label every step-th character only
    pos = list(range(0, n, step))
    labels = [_char_label(text[p]) for p in pos]
    if axis == "x":
        ax.set_xticks(pos, labels, fontfamily="monospace")
    else:
        ax.set_yticks(pos, labels, fontfamily="monospace")


def plot_learning_curves(history: History, ax: Axes | None = None, unit: str = "bits",
                         smooth: int = 20) -> Axes:
    """Training loss per step (moving average over ``smooth`` steps) and validation loss per evaluation.

    Args:
        history: from :func:`lstm_course.training.train_lm`.
        ax: draw here; ``None`` = a new figure. Default: ``None``.
        unit: ``"bits"`` (bits per character, nats / ln 2) or ``"nats"``. Default: ``"bits"``.
        smooth: window of the trailing moving average of the noisy per-step loss (1 = raw). Default: 20.
    """
    if unit not in _UNITS:
        raise ValueError(f"expected unit in {sorted(_UNITS)}, got {unit!r}")
    if smooth < 1:
        raise ValueError(f"expected smooth >= 1, got {smooth}")
    if not history.step:
        raise ValueError("expected a History with at least one training step, got an empty one")
    label, scale = _UNITS[unit]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    train = np.asarray(history.train_loss, dtype=float) * scale
    csum = np.cumsum(np.insert(train, 0, 0.0))
    window = np.minimum(np.arange(1, len(train) + 1), smooth)
    idx = np.arange(len(train))
    smoothed = (csum[idx + 1] - csum[idx + 1 - window]) / window  # trailing mean, shorter at the start
    ax.plot(history.step, smoothed, label=f"train (mean of last {smooth} steps)" if smooth > 1 else "train")
    if history.val_loss:
        ax.plot(history.val_step, np.asarray(history.val_loss) * scale, "o-", label="validation")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(f"cross-entropy ({label})")
    ax.set_title("Learning curves")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_gates(gates: dict, text: str, units: Sequence[int] = (0,), ax: Sequence[Axes] | Axes | None = None,
               keys: Sequence[str] = ("i", "f", "g", "o", "c", "h")) -> np.ndarray:
    """One panel per gate/state over the characters of ``text``, one line per hidden unit.

    Args:
        gates: ``{"i", "f", "g", "o", "c", "h"} → (T, H)`` tensors or arrays, e.g. from
            :func:`lstm_course.cell.trace_gates`.
        text: the T characters that produced the gates (x-axis labels).
        units: which hidden units (columns) to draw. Default: ``(0,)``.
        ax: one Axes per key (a sequence), a single Axes when ``keys`` has one entry, or ``None`` for a
            new figure with the panels stacked. Default: ``None``.
        keys: which entries of ``gates`` to draw, in order. Default: all six.

    Returns:
        A numpy array of the Axes drawn on.
    """
    keys = list(keys)
    missing = [k for k in keys if k not in gates]
    if missing:
        raise ValueError(f"expected gates to hold keys {keys}, got {sorted(gates)} (missing {missing})")
    arrays = {k: _to_numpy(gates[k]) for k in keys}
    for k, a in arrays.items():
        if a.ndim != 2 or a.shape[0] != len(text):
            raise ValueError(f"expected gates[{k!r}] of shape (T, H) with T = len(text) = {len(text)}, got {a.shape}")
    H = arrays[keys[0]].shape[1]
    units = list(units)
    if not units or any(not 0 <= u < H for u in units):
        raise ValueError(f"expected units in [0, {H}), got {units}")
    if ax is None:
        fig, axes = plt.subplots(len(keys), 1, figsize=(max(6, 0.18 * len(text)), 1.6 * len(keys) + 0.8),
                                 sharex=True, squeeze=False, layout="constrained")
        axes = axes[:, 0]
        fig.suptitle(f"LSTM gates over the text, unit{'s' if len(units) > 1 else ''} {', '.join(map(str, units))}")
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object))
        if len(axes) != len(keys):
            raise ValueError(f"expected {len(keys)} Axes (one per key), got {len(axes)}")
    t = np.arange(len(text))
    for a, k in zip(axes, keys):
        for u in units:
            a.plot(t, arrays[k][:, u], marker=".", label=f"unit {u}")
        a.set_title(_GATE_NAMES.get(k, k), fontsize="medium")
        a.set_ylabel("activation")
        if k in ("i", "f", "o"):
            a.set_ylim(-0.05, 1.05)  # sigmoid gates live in (0, 1)
        elif k in ("g", "h"):
            a.set_ylim(-1.05, 1.05)  # tanh outputs live in (-1, 1)
        a.grid(True, alpha=0.3)
    if len(units) > 1:
        axes[0].legend(fontsize="small", ncol=min(4, len(units)))
    for a in axes:
        _char_ticks(a, text)
    axes[-1].set_xlabel("character")  # panels share the x-axis: label it once, at the bottom
    return axes


def plot_hidden_heatmap(h: Any, text: str, ax: Axes | None = None, max_units: int | None = 64) -> Axes:
    """Heat map of hidden activations: units (rows) × characters (columns), colour = value.

    Args:
        h: (T, H) tensor or array (e.g. ``trace_gates(...)["h"]``).
        text: the T characters (x-axis labels).
        ax: draw here; ``None`` = a new figure. Default: ``None``.
        max_units: draw only the first this many units (``None`` = all). Default: 64.
    """
    a = _to_numpy(h)
    if a.ndim != 2 or a.shape[0] != len(text):
        raise ValueError(f"expected h of shape (T, H) with T = len(text) = {len(text)}, got {a.shape}")
    if max_units is not None:
        a = a[:, :max_units]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.18 * len(text)), max(3, 0.12 * a.shape[1] + 1.5)))
    lim = float(np.abs(a).max()) or 1.0
    im = ax.imshow(a.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")  # (H, T)
    ax.figure.colorbar(im, ax=ax, label="activation")
    _char_ticks(ax, text)
    ax.set_xlabel("character")
    ax.set_ylabel("hidden unit")
    ax.set_title(f"Hidden state over the text ({a.shape[1]} units)")
    return ax


def plot_attention(weights: Any, source: str, output: str, ax: Axes | None = None, title: str | None = None,
                   end_label: str | None = "EOS", colorbar: bool = True) -> Axes:
    """Heat map of a seq2seq model's attention: one row per output character, one column per source
    character, colour = the weight the step that wrote that output put on that source character.

    Args:
        weights: (len(output), S) or (len(output) + 1, S) tensor or array, e.g. from
            :func:`lstm_course.seq2seq.attention_matrix` (its last row is the step that predicts EOS).
        source: the S source characters (column labels; a space shows as ␣).
        output: the output characters (row labels).
        ax: draw here; ``None`` = a new figure sized to the strings. Default: ``None``.
        title: the panel title; ``None`` = the source string quoted. Default: ``None``.
        end_label: the label of the extra last row when ``weights`` has one. Default: ``"EOS"``.
        colorbar: add a colour bar labelled "attention weight". Default: ``True``.
    """
    a = _to_numpy(weights)
    rows = list(output)
    if a.ndim == 2 and a.shape[0] == len(output) + 1:
        if end_label is None:
            a = a[:len(output)]  # leave the EOS step out
        else:
            rows.append(end_label)
    if a.ndim != 2 or a.shape != (len(rows), len(source)):
        raise ValueError(f"expected weights of shape (len(output), len(source)) = ({len(output)}, {len(source)}) "
                         f"or one row more for EOS, got {a.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.25 * len(source) + 2.0), max(2.5, 0.25 * len(rows) + 1.2)),
                             layout="constrained")
    im = ax.imshow(a, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")  # (T, S)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="attention weight")
    ax.set_xticks(range(len(source)), [_char_label(c) for c in source], fontfamily="monospace")
    ax.set_yticks(range(len(rows)), [_char_label(c) for c in rows], fontfamily="monospace")
    ax.tick_params(length=0)
    ax.set_xlabel("source character (read)")
    ax.set_ylabel("output character (written)")
    ax.set_title(repr(source) if title is None else title)
    return ax


def html_activation(text: str, values: Sequence[float], cmap: str = "RdBu_r",
                    vmin: float | None = None, vmax: float | None = None) -> str:
    """A self-contained HTML snippet: each character of ``text`` on a background coloured by its value.

    Args:
        text: the characters (any, including ``<``, ``&`` and newlines: they are escaped/kept).
        values: one number per character, e.g. one hidden unit's activation (T,).
        cmap: a matplotlib colormap name. Default: ``"RdBu_r"`` (blue negative, red positive).
        vmin, vmax: the value range mapped onto the colormap; ``None`` = symmetric around 0 at the
            largest absolute value (so 0 is the colormap's middle). Default: ``None``.

    Hovering a character shows its value.
    """
    v = _to_numpy(values).reshape(-1)
    if len(v) != len(text):
        raise ValueError(f"expected one value per character, got {len(v)} values for {len(text)} characters")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"expected finite values, got {int((~np.isfinite(v)).sum())} NaN/inf")
    try:
        colormap = colormaps[cmap]
    except KeyError:
        raise ValueError(f"expected a matplotlib colormap name, got {cmap!r}") from None
    lim = float(np.abs(v).max()) if len(v) else 1.0
    lim = lim or 1.0
    norm = Normalize(vmin=-lim if vmin is None else vmin, vmax=lim if vmax is None else vmax)
    spans = []
    for ch, value in zip(text, v):
        r, g, b, _ = colormap(norm(value))
        fg = "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "#fff"  # readable on dark backgrounds
        shown = html.escape(ch) if ch != "\n" else "↵\n"  # a visible mark, then the real line break
        spans.append(f'<span style="background-color:rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f});color:{fg}" '
                     f'title="{value:.3f}">{shown}</span>')
    return ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.5">'
            + "".join(spans) + "</div>")


class HTMLActivation:
    """Notebook display of :func:`html_activation`: put it last in a cell (or ``display`` it)."""

    def __init__(self, text: str, values: Sequence[float], cmap: str = "RdBu_r", vmin: float | None = None,
                 vmax: float | None = None) -> None:
        self.html = html_activation(text, values, cmap=cmap, vmin=vmin, vmax=vmax)

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


# one function per page, defined by the first slider snippet that runs; every snippet calls it
_SLIDER_JS = """<script>
window.lcSliders = window.lcSliders || function (root) {
  var key = [], inputs = root.querySelectorAll("input[type=range]");
  inputs.forEach(function (s) {
    var names = JSON.parse(s.dataset.labels);
    root.querySelector("output[data-for='" + s.name + "']").textContent = names[s.value];
    key.push(s.value);
  });
  root.querySelectorAll("pre[data-key]").forEach(function (p) { p.hidden = p.dataset.key !== key.join("-"); });
};
</script>"""


def static_sliders(texts: Mapping[tuple, str], axes: Mapping[str, Sequence[Any]],
                   start: Sequence[Any] | None = None) -> str:
    """A self-contained HTML snippet: one slider per axis that switches between precomputed texts.

    It needs no Python kernel (a few lines of JavaScript swap which ``<pre>`` is shown), so a notebook's
    interactive part still works on the static book. Without JavaScript the ``start`` text is shown.

    Args:
        texts: one text for every combination of axis values, keyed by the tuple of values in the order of
            ``axes``, e.g. ``{(0.5, 0): "...", (0.5, 1): "...", ...}``.
        axes: slider name -> its values in slider order, e.g. ``{"temperature": [0.5, 1.0], "seed": [0, 1]}``.
        start: the values shown first. Default: the first value of each axis.

    Raises:
        ValueError: an axis without values, a missing combination, or a ``start`` value not on its axis.
    """
    names = list(axes)
    values = [list(axes[n]) for n in names]
    if not names or any(not v for v in values):
        raise ValueError(f"expected at least one axis, each with at least one value, got {dict(axes)!r}")
    start = [v[0] for v in values] if start is None else list(start)
    if len(start) != len(names) or any(s not in v for s, v in zip(start, values)):
        raise ValueError(f"expected start to hold one value of each axis {names}, got {start!r}")
    missing = [combo for combo in itertools.product(*values) if combo not in texts]
    if missing:
        raise ValueError(f"expected a text for every combination of axis values, missing {missing[:3]}"
                         + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
    first = [v.index(s) for s, v in zip(start, values)]
    # a stable id from the content, so rebuilding a page gives the same HTML
    uid = "lc-" + hashlib.sha1(json.dumps([names, [list(map(str, v)) for v in values],
                                           sorted(map(str, texts.values()))]).encode()).hexdigest()[:10]
    controls = []
    for k, (name, vals) in enumerate(zip(names, values)):
        field = f"{uid}-{k}"
        labels = html.escape(json.dumps([str(v) for v in vals]))
        controls.append(
            f'<label style="display:block;margin:0.2em 0">{html.escape(str(name))}: '
            f'<input type="range" name="{field}" min="0" max="{len(vals) - 1}" step="1" value="{first[k]}" '
            f'data-labels="{labels}" oninput="lcSliders(this.closest(\'.lc-sliders\'))" '
            f'aria-label="{html.escape(str(name))}" style="vertical-align:middle;width:16em"> '
            f'<output data-for="{field}">{html.escape(str(vals[first[k]]))}</output></label>')
    pres = []
    for idx in itertools.product(*(range(len(v)) for v in values)):
        combo = tuple(v[i] for v, i in zip(values, idx))
        hidden = "" if list(idx) == first else " hidden"
        pres.append(f'<pre data-key="{"-".join(map(str, idx))}"{hidden} '
                    f'style="white-space:pre-wrap">{html.escape(texts[combo])}</pre>')
    return (_SLIDER_JS + f'<div class="lc-sliders" id="{uid}">' + "".join(controls) + "".join(pres) + "</div>")


class StaticSliders:
    """Notebook display of :func:`static_sliders`: put it last in a cell (or ``display`` it)."""

    def __init__(self, texts: Mapping[tuple, str], axes: Mapping[str, Sequence[Any]],
                 start: Sequence[Any] | None = None) -> None:
        self.html = static_sliders(texts, axes, start)

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html
