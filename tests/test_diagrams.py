"""The diagrams drawn by code (lstm_course.diagrams): the right labels are there, taken from the
package's gate names, every label is inside the figure, and no two labels overlap."""
import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lstm_course.cell import GATES  # noqa: E402
from lstm_course.diagrams import (GATE_ACTIVATION, GATE_ROLE, draw_encoder_decoder, draw_lstm_cell,  # noqa: E402
                                  draw_unrolled)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(ax):
    return [t for t in [*ax.texts, ax.title] if t.get_text().strip()]


def labels(ax):
    return [t.get_text() for t in texts(ax)]


def _contains(outer, inner) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def assert_readable(ax):
    """No two labels overlap; a label sits either fully inside a box/circle or clear of it; every label
    except the title lies inside the axes (is not cut off), the title inside the figure."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(ax)]
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        assert not ba.overlaps(bb), f"labels {a!r} and {b!r} overlap"
    for patch in ax.patches:
        pb = patch.get_window_extent(renderer)
        for name, bx in boxes:
            assert _contains(pb, bx) or not pb.overlaps(bx), f"label {name!r} straddles the edge of a shape"
    ax_box = ax.get_window_extent(renderer)
    for t, (name, bx) in zip(texts(ax), boxes):
        assert _contains(fig.bbox if t is ax.title else ax_box, bx), f"label {name!r} is cut off"


def test_cell_diagram_labels_every_gate_from_the_package_names():
    ax = draw_lstm_cell()
    got = labels(ax)
    for name in GATES:
        assert f"{name}  {GATE_ACTIVATION[name]}\n{GATE_ROLE[name]}" in got
    assert GATE_ACTIVATION["g"] == "tanh" and all(GATE_ACTIVATION[n] == r"$\sigma$" for n in "ifo")
    for label in (r"$c_{t-1}$", r"$c_t$", r"$h_{t-1}$", r"$h_t$", r"$x_t$"):
        assert label in got
    assert ", ".join(GATES) in ax.get_title()
    assert sum(lab == "×" for lab in got) == 3 and "+" in got and "tanh" in got  # f*c, i*g, o*tanh(c)
    assert_readable(ax)


def test_cell_diagram_rejects_unknown_gates_and_draws_on_a_given_axes():
    with pytest.raises(ValueError, match=r"expected the four gates i, f, g, o in some order, got \('i', 'f', 'g'\)"):
        draw_lstm_cell(gates=("i", "f", "g"))
    with pytest.raises(ValueError, match="expected the four gates"):
        draw_lstm_cell(gates=("i", "f", "g", "z"))
    fig, axes = plt.subplots(1, 2)
    assert draw_lstm_cell(ax=axes[1]) is axes[1]
    assert not axes[0].texts


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_unrolled_diagram_has_every_step(cell):
    ax = draw_unrolled(5, cell=cell, gradients=True)
    got = labels(ax)
    for t in range(1, 6):
        assert f"$x_{{{t}}}$" in got and f"$h_{{{t}}}$" in got
    states = [lab for lab in got if lab.startswith("$h_") and "," in lab]
    assert len(states) == (6 if cell == "LSTM" else 0)  # h_0, c_0 ... h_5, c_5 only where there is a c
    assert sum(lab == f"{cell}\ncell" for lab in got) == 5
    assert any("BPTT" in lab for lab in got)
    assert_readable(ax)


def test_unrolled_diagram_errors():
    with pytest.raises(ValueError, match="expected steps to be an int in 1..8, got 0"):
        draw_unrolled(0)
    with pytest.raises(ValueError, match="expected cell 'LSTM', 'GRU' or 'RNN', got 'lstm'"):
        draw_unrolled(3, cell="lstm")


def test_encoder_decoder_diagram_shows_source_target_and_shifted_inputs():
    src, tgt = list("3/15/24"), list("2024-03")
    ax = draw_encoder_decoder(src, tgt)
    got = labels(ax)
    assert sum(lab == "enc" for lab in got) == len(src) and sum(lab == "dec" for lab in got) == len(tgt)
    assert "<s>" in got
    # the decoder sees each target token once as an output and (except the last) once as the next input
    for tok in set(tgt):
        expected = tgt.count(tok) + tgt[:-1].count(tok) + src.count(tok)
        assert got.count(tok) == expected, tok
    assert_readable(ax)
    with pytest.raises(ValueError, match="expected 1..8 source tokens, got 0"):
        draw_encoder_decoder([], tgt)


def test_overlap_check_catches_overlapping_labels():
    # the readability check itself must be able to fail
    ax = draw_lstm_cell()
    ax.text(2.4, 2.6, "an extra label on top of the forget gate")
    with pytest.raises(AssertionError, match="overlap"):
        assert_readable(ax)
    plt.close("all")
    ax = draw_lstm_cell()
    ax.text(1.0, 1.8, "edge", ha="center")  # across the left edge of the cell frame
    with pytest.raises(AssertionError, match="straddles"):
        assert_readable(ax)
