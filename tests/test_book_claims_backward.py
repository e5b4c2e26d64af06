"""Claim tests for the chapter "The cell forward and backward, in NumPy" (book/02b_backward_by_hand):
each effect its prose states is asserted on the values it glued while the book was built
(`built_book`, tests/conftest.py), plus fast static checks on its source.

Thresholds come from the claims ("equal in float64", "near chance" on a balanced binary task,
"learned" = at least 90% held out), not from one run's numbers.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "02b_backward_by_hand.ipynb"
STEM = CHAPTER.stem
EXACT = 1e-10  # float64 "equal": rounding differences are around 1e-16
GRADS = {"dW_ih", "dW_hh", "db", "dx", "dh0", "dc0"}


def _code(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


# ---------------------------------------------------------------- static (fast) -----------

def test_chapter_is_in_the_toc_right_after_chapter_2():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "- file: book/02_cell_by_hand\n      - file: book/02b_backward_by_hand\n" in toc


def test_chapter_source_opens_like_the_others_and_uses_the_package():
    code = _code(CHAPTER)
    assert code[0] == _code(ROOT / "book" / "01_why_gates.ipynb")[0], "the Colab setup cell differs from chapter 1's"
    nb = json.loads(CHAPTER.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "commit without outputs"
    source = "\n".join(code)
    assert "from lstm_course.notebook import glue" in source and "from myst_nb import glue" not in source
    # the chapter shows the package's backward; it must not carry its own copy of the correct one
    for helper in ("def lstm_step_backward", "def lstm_backward", "def lstm_forward", "def numerical_gradient"):
        assert helper not in source, helper


# ----------------------------------------------------------------- built book -------------

@pytest.mark.slow
def test_numpy_forward_and_every_gradient_equal_autograd_in_float64(built_book):
    g = built_book.glue(STEM)
    assert g["fwd_max_diff"] < EXACT
    assert set(g["grad_diffs"]) == GRADS  # every gradient, including the initial state, was compared
    assert all(d < EXACT for d in g["grad_diffs"].values())
    assert g["bwd_max_diff"] == max(g["grad_diffs"].values())


@pytest.mark.slow
def test_finite_differences_agree_and_the_negative_control_fails_both_checks(built_book):
    g = built_book.glue(STEM)
    assert g["fd_max_rel"] < 1e-6  # central differences in float64 resolve about 1e-9
    # "both checks fail loudly": the wrong backward is off by orders of magnitude more than a pass
    assert g["wrong_max_diff"] > 1e-2
    assert g["wrong_fd_rel"] > 1e-2
    assert g["wrong_fd_rel"] > 1e4 * g["fd_max_rel"]


@pytest.mark.slow
def test_cell_jacobian_parts_are_measured(built_book):
    g = built_book.glue(STEM)
    # spectral norm of diag(f): the largest forget gate, strictly between 0 and 1
    assert 0 < g["jac_diag_norm"] < 1
    assert g["jac_hpath_norm"] > 0


@pytest.mark.slow
def test_hand_rnn_and_gru_equal_pytorch_and_b_hn_placement_matters(built_book):
    g = built_book.glue(STEM)
    for key in ("rnn_max_diff", "rnn_grad_max_diff", "gru_max_diff", "gru_grad_max_diff"):
        assert g[key] < EXACT, key
    assert g["rnn_T"] >= 10
    assert g["gru_bhn_outside_diff"] > 1e-3


@pytest.mark.slow
def test_comparison_over_seeds_with_parameter_counts(built_book):
    g = built_book.glue(STEM)
    cmp = g["compare"]
    assert g["n_seeds"] >= 5
    assert set(cmp) == {"RNN", "GRU", "LSTM (forget bias 1)", "LSTM (forget bias 5)"}
    H, I, head_and_embedding = 64, 16, 8 * 16 + 64 * 2 + 2
    blocks = {"RNN": 1, "GRU": 3, "LSTM (forget bias 1)": 4, "LSTM (forget bias 5)": 4}
    for name, s in cmp.items():
        assert len(s["accs"]) == g["n_seeds"], name
        assert s["params"] == head_and_embedding + blocks[name] * (H * I + H * H + 2 * H), name
        assert s["learned"] == sum(a >= 0.9 for a in s["accs"]), name
        assert s["min"] <= s["mean"] <= s["max"] and s["std"] >= 0
    # the prose: the LSTM started with forget bias 5 learns the rule on every seed ...
    assert cmp["LSTM (forget bias 5)"]["learned"] == g["n_seeds"]
    # ... while the RNN, the GRU and the default LSTM stay near chance (0.5) on every seed
    for name in ("RNN", "GRU", "LSTM (forget bias 1)"):
        assert cmp[name]["max"] < 0.6, name
        assert cmp[name]["learned"] == 0, name
    assert g["cmp_default_best"] == max(cmp[n]["max"] for n in ("RNN", "GRU", "LSTM (forget bias 1)"))


@pytest.mark.slow
def test_trained_models_bptt_and_forget_gate_products(built_book):
    g = built_book.glue(STEM)
    assert g["trained_bptt_diff"] < EXACT  # NumPy float64 vs autograd on a float64 copy of the model
    # "survives the 29 steps almost intact" in the model trained from forget bias 5 ...
    assert g["keep0_max_fb5"] > 0.9
    assert g["keep0_median_fb5"] > 0.5
    # ... and not in the one trained from forget bias 1
    assert g["keep0_max_fb5"] > 100 * g["keep0_max_fb1"]
    assert g["keep0_median_fb5"] > 100 * g["keep0_median_fb1"]
    # "the gradient reaching the first step is N times smaller" (N printed with :.0f, so at least 2)
    assert g["grad0_ratio"] > 2
    assert g["grad0_ratio"] == pytest.approx(g["grad0_fb5"] / g["grad0_fb1"])


@pytest.mark.slow
def test_embedding_is_one_hot_times_a_matrix_and_its_gradient_follows(built_book):
    g = built_book.glue(STEM)
    assert g["embed_onehot_diff"] < EXACT
    assert g["embed_grad_diff"] < EXACT  # one-hot^T dx from the NumPy BPTT vs autograd, float64
