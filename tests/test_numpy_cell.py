"""The NumPy LSTM (lstm_course.numpy_cell): forward equal to nn.LSTM, every gradient equal to autograd
in float64, a finite-difference check that trusts neither, and a negative control (a backward
with a plausible mistake) that both checks must catch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_course.cell import lstm_cell
from lstm_course.numpy_cell import (StepGrads, autograd_reference, cell_jacobian, lstm_backward, lstm_forward, lstm_step_backward,
                                    lstm_step_forward, max_abs_diff, numerical_gradient)

EXACT = 1e-10  # float64: the two computations differ only by rounding (~1e-15)
T, B, I, H = 5, 3, 4, 6


def make_problem(seed: int = 0, T: int = T, B: int = B, I: int = I, H: int = H) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(T, B, I)), "h0": rng.normal(size=(B, H)) * 0.5,
            "c0": rng.normal(size=(B, H)) * 0.5, "W_ih": rng.normal(size=(4 * H, I)) * 0.5,
            "W_hh": rng.normal(size=(4 * H, H)) * 0.5, "b": rng.normal(size=4 * H) * 0.5,
            "dhs": rng.normal(size=(T, B, H)), "dc_T": rng.normal(size=(B, H))}


def numpy_grads(p: dict, step_backward=lstm_step_backward, use_dc_T: bool = True) -> dict[str, np.ndarray]:
    _, _, caches = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    g = lstm_backward(p["dhs"], caches, p["W_ih"], p["W_hh"], p["dc_T"] if use_dc_T else None,
                      step_backward=step_backward)
    return g.as_dict()


def loss(p: dict) -> float:
    # the scalar whose gradient lstm_backward computes: L = sum(hs * dhs) + sum(c_T * dc_T)
    hs, (_, c_T), _ = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    return float((hs * p["dhs"]).sum() + (c_T * p["dc_T"]).sum())


def _missing_tanh_prime(dh, dc, cache, W_ih, W_hh) -> StepGrads:
    # written out in full, like a student would: only the (1 - tanh(c)^2) factor is missing
    i, f, g, o, tc = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    do = dh * tc
    dc_tot = dc + dh * o  # BUG: should be dh * o * (1 - tc ** 2)
    da = np.concatenate([dc_tot * g * i * (1 - i), dc_tot * cache.c_prev * f * (1 - f),
                         dc_tot * i * (1 - g ** 2), do * o * (1 - o)], axis=1)
    return StepGrads(da @ W_ih, da @ W_hh, dc_tot * f, da.T @ cache.x, da.T @ cache.h_prev, da.sum(0))


def test_forward_equals_nn_lstm_in_float64():
    p = make_problem()
    hs, (h_T, c_T), caches = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    ref = autograd_reference(**{k: p[k] for k in ("x", "h0", "c0", "W_ih", "W_hh", "b", "dhs")})
    assert hs.shape == (T, B, H) and len(caches) == T
    assert max_abs_diff(hs, ref["hs"]) < EXACT
    assert max_abs_diff(h_T, ref["h_T"]) < EXACT
    assert max_abs_diff(c_T, ref["c_T"]) < EXACT
    assert np.abs(hs).max() > 0.1  # not a trivially zero comparison


def test_one_step_equals_the_torch_hand_cell():
    p = make_problem(1)
    h, c, _ = lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    th, tc = lstm_cell(torch.from_numpy(p["x"][0]), (torch.from_numpy(p["h0"]), torch.from_numpy(p["c0"])),
                       torch.from_numpy(p["W_ih"]), torch.from_numpy(p["W_hh"]), torch.from_numpy(p["b"]))
    assert max_abs_diff(h, th.numpy()) < EXACT and max_abs_diff(c, tc.numpy()) < EXACT


@pytest.mark.parametrize("use_dc_T", [True, False])
def test_every_gradient_equals_autograd_in_float64(use_dc_T):
    p = make_problem(2)
    ours = numpy_grads(p, use_dc_T=use_dc_T)
    ref = autograd_reference(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"], p["dhs"],
                             p["dc_T"] if use_dc_T else None)
    for name in ("dW_ih", "dW_hh", "db", "dx", "dh0", "dc0"):
        assert ours[name].shape == ref[name].shape, name
        assert max_abs_diff(ours[name], ref[name]) < EXACT, name
        assert np.abs(ref[name]).max() > 1e-3, name  # every gradient is actually exercised


def test_loss_on_the_last_state_only_matches_autograd():
    # many-to-one (a classifier on h_T): only dhs[-1] is nonzero, the gradient must still reach step 0
    p = make_problem(3, T=8)
    p["dhs"][:-1] = 0.0
    ours = numpy_grads(p, use_dc_T=False)
    ref = autograd_reference(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"], p["dhs"])
    for name in ("dW_ih", "dW_hh", "db", "dx", "dh0", "dc0"):
        assert max_abs_diff(ours[name], ref[name]) < EXACT, name
    assert np.abs(ours["dx"][0]).max() > 0


@pytest.mark.parametrize("name", ["W_ih", "W_hh", "b", "x", "h0", "c0"])
def test_finite_differences_agree_with_the_backward(name):
    p = make_problem(4, T=3, B=2, I=3, H=4)
    analytic = numpy_grads(p)["d" + name]
    numeric = numerical_gradient(lambda: loss(p), p[name])
    rel = max_abs_diff(analytic, numeric) / np.abs(numeric).max()
    assert rel < 1e-7, (name, rel)


def test_numerical_gradient_restores_its_input_and_is_exact_on_a_quadratic():
    a = np.array([1.0, -2.0, 3.0])
    before = a.copy()
    g = numerical_gradient(lambda: float((a ** 2).sum()), a)
    assert np.array_equal(a, before)
    assert max_abs_diff(g, 2 * before) < 1e-8


def test_negative_control_missing_tanh_prime_is_caught_by_both_checks():
    p = make_problem(5)
    wrong = numpy_grads(p, step_backward=_missing_tanh_prime)
    right = numpy_grads(p)
    ref = autograd_reference(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"], p["dhs"], p["dc_T"])
    # the control is only meaningful if it reproduces the correct backward when the bug is removed
    assert max_abs_diff(right["dW_hh"], ref["dW_hh"]) < EXACT
    assert max_abs_diff(wrong["dW_hh"], ref["dW_hh"]) > 1e-2
    assert max_abs_diff(wrong["dc0"], ref["dc0"]) > 1e-2
    small = make_problem(6, T=3, B=2, I=3, H=4)
    numeric = numerical_gradient(lambda: loss(small), small["W_hh"])
    wrong_small = numpy_grads(small, step_backward=_missing_tanh_prime)["dW_hh"]
    assert max_abs_diff(wrong_small, numeric) / np.abs(numeric).max() > 1e-2


def test_bptt_carries_the_cell_gradient_scaled_by_the_forget_gate():
    # with no loss on h, the gradient on c_T reaches c_0 along the cell path: dc0 = dc_T * prod(f)
    # plus the paths through h; with W_hh = 0 the h paths vanish and only the product of f is left
    p = make_problem(7)
    p["W_hh"][:] = 0.0
    p["dhs"][:] = 0.0
    _, _, caches = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    g = lstm_backward(p["dhs"], caches, p["W_ih"], p["W_hh"], p["dc_T"])
    prod_f = np.prod([c.f for c in caches], axis=0)  # (B, H)
    assert max_abs_diff(g.dc0, p["dc_T"] * prod_f) < EXACT
    assert max_abs_diff(g.dh0, np.zeros_like(g.dh0)) == 0.0


def test_bad_shapes_raise_clear_errors():
    p = make_problem()
    with pytest.raises(ValueError, match=r"expected W_hh of shape \(4H, H\)"):
        lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"][:-1], p["b"])
    with pytest.raises(ValueError, match=r"expected x of shape \(T, B, I\) = \(T, B, 4\), got \(5, 3, 2\)"):
        lstm_forward(p["x"][..., :2], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    with pytest.raises(ValueError, match=r"expected c0 of shape \(B, H\) = \(3, 6\), got \(3, 5\)"):
        lstm_forward(p["x"], p["h0"], p["c0"][:, :5], p["W_ih"], p["W_hh"], p["b"])
    with pytest.raises(ValueError, match=r"expected b of shape \(4H,\)"):
        lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"][:4])
    with pytest.raises(ValueError, match="expected at least one time step"):
        lstm_forward(p["x"][:0], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    _, _, caches = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    with pytest.raises(ValueError, match=r"expected dhs of shape \(T, B, H\) = \(5, 3, 6\)"):
        lstm_backward(p["dhs"][:4], caches, p["W_ih"], p["W_hh"])
    with pytest.raises(ValueError, match="expected h_prev to be a NumPy array, got Tensor"):
        lstm_step_forward(p["x"][0], torch.zeros(B, H), p["c0"], p["W_ih"], p["W_hh"], p["b"])


def test_cell_jacobian_is_diag_f_plus_the_paths_through_h():
    p = make_problem(8, T=2, B=2, I=3, H=4)
    _, _, caches = lstm_forward(p["x"], p["h0"], p["c0"], p["W_ih"], p["W_hh"], p["b"])
    o_prev = caches[0].o
    J = cell_jacobian(caches[1], p["W_hh"], o_prev)  # (B, H, H) = dc_2 / dc_1
    W_ih, W_hh, b = (torch.from_numpy(p[k]) for k in ("W_ih", "W_hh", "b"))
    for row in range(2):
        def c_next(c_prev):  # c_2 as a function of c_1, with h_1 = o_1 * tanh(c_1)
            h_prev = torch.from_numpy(o_prev[row]) * torch.tanh(c_prev)
            return lstm_cell(torch.from_numpy(p["x"][1, row:row + 1]), (h_prev[None], c_prev[None]),
                             W_ih, W_hh, b)[1][0]
        ref = torch.autograd.functional.jacobian(c_next, torch.from_numpy(caches[1].c_prev[row]))
        assert max_abs_diff(J[row], ref.numpy()) < EXACT
    off_diagonal = J - np.einsum("bj,jk->bjk", np.einsum("bjj->bj", J), np.eye(4))
    assert np.abs(off_diagonal).max() > 1e-3  # the h paths are really there
    diag_only = cell_jacobian(caches[1], p["W_hh"])
    assert max_abs_diff(diag_only, np.einsum("bj,jk->bjk", caches[1].f, np.eye(4))) == 0.0


def test_step_backward_rejects_upstream_gradients_of_another_shape():
    # an (H,) or (1, H) dh would broadcast silently against (B, H) arrays
    rng = np.random.default_rng(3)
    B, I, H = 3, 2, 4
    _, _, cache = lstm_forward(rng.normal(size=(1, B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H)),
                               rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, H)), rng.normal(size=4 * H))
    W_ih, W_hh = rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, H))
    ok = rng.normal(size=(B, H))
    with pytest.raises(ValueError, match=r"expected dh of shape \(B, H\) = \(3, 4\), got \(4,\)"):
        lstm_step_backward(ok[0], ok, cache[0], W_ih, W_hh)
    with pytest.raises(ValueError, match=r"expected dc of shape \(B, H\) = \(3, 4\), got \(1, 4\)"):
        lstm_step_backward(ok, ok[:1], cache[0], W_ih, W_hh)
    assert lstm_step_backward(ok, ok, cache[0], W_ih, W_hh).dx.shape == (B, I)
