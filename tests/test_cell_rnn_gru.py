"""The hand-written vanilla RNN and GRU cells (lstm_course.cell) against nn.RNN / nn.GRUCell:
float64 values AND gradients, a hand-computable case, and the errors."""
import math

import pytest
import torch
from torch import nn

from lstm_course.cell import GRU_GATES, gru_cell, rnn_cell

TOL = dict(rtol=1e-10, atol=1e-12)
B, T, I, H = 3, 5, 4, 6


def _params(m, suffix=""):
    return [getattr(m, f"{n}{suffix}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def test_rnn_cell_hand_computable_case():
    # I = H = 1: h' = tanh(2 * 1 + 3 * 0.5 + 0.25 + 0.25) = tanh(4)
    one = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    h = rnn_cell(one(1.0), one(0.5), one(2.0), one(3.0), torch.tensor([0.25], dtype=torch.float64),
                 torch.tensor([0.25], dtype=torch.float64))
    assert h.item() == pytest.approx(math.tanh(4.0))


def test_rnn_cell_unrolled_equals_nn_rnn_values_and_grads():
    torch.manual_seed(0)
    rnn = nn.RNN(I, H, dtype=torch.float64)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    ref, _ = rnn(x, h0.unsqueeze(0))  # (T, B, H)
    w = _params(rnn, "_l0")
    h, outs = h0, []
    for t in range(T):
        h = rnn_cell(x[t], h, *w)
        outs.append(h)
    ours = torch.stack(outs)
    torch.testing.assert_close(ours, ref, **TOL)
    grad_out = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, [x, h0, *w], grad_out)
    g_ours = torch.autograd.grad(ours, [x, h0, *w], grad_out)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_gru_cell_hand_computable_case():
    # I = H = 1, only the biases set: r = sigmoid(0) = 0.5, z = sigmoid(0) = 0.5, h = 2,
    # n = tanh(b_in + r * (W_hn h + b_hn)) = tanh(0.1 + 0.5 * (0 + 0.6)) = tanh(0.4)
    d = torch.float64
    b_ih, b_hh = torch.tensor([0.0, 0.0, 0.1], dtype=d), torch.tensor([0.0, 0.0, 0.6], dtype=d)
    h = gru_cell(torch.ones(1, 1, dtype=d), torch.full((1, 1), 2.0, dtype=d), torch.zeros(3, 1, dtype=d),
                 torch.zeros(3, 1, dtype=d), b_ih, b_hh)
    assert h.item() == pytest.approx(0.5 * math.tanh(0.4) + 0.5 * 2.0)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_cell_equals_nn_grucell_values_and_grads(bias):
    torch.manual_seed(1)
    cell = nn.GRUCell(I, H, bias=bias, dtype=torch.float64)
    with torch.no_grad():  # larger weights than the default init, so every gate is far from 0.5
        for p in cell.parameters():
            p.mul_(4.0)
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    h = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    w = _params(cell)
    ref, ours = cell(x, h), gru_cell(x, h, *w)
    torch.testing.assert_close(ours, ref, **TOL)
    grad_out = torch.randn_like(ref)
    inputs = [x, h] + [p for p in w if p is not None]
    for a, b in zip(torch.autograd.grad(ours, inputs, grad_out), torch.autograd.grad(ref, inputs, grad_out)):
        torch.testing.assert_close(a, b, **TOL)


def test_gru_b_hn_sits_inside_the_reset_gate():
    # the common textbook variant n = tanh(W_in x + b_in + b_hn + r * (W_hn h)) is a different function:
    # moving b_hn outside r * (...) must change the output when r != 1
    torch.manual_seed(2)
    cell = nn.GRUCell(I, H, dtype=torch.float64)
    with torch.no_grad():
        cell.bias_hh[2 * H:].fill_(1.0)
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    moved_ih, moved_hh = cell.bias_ih.clone(), cell.bias_hh.clone()
    moved_ih[2 * H:] += moved_hh[2 * H:]
    moved_hh[2 * H:] = 0.0
    outside = gru_cell(x, h, cell.weight_ih, cell.weight_hh, moved_ih, moved_hh)
    assert (outside - cell(x, h)).abs().max() > 1e-3
    assert GRU_GATES == ("r", "z", "n")


def test_cells_state_none_is_zeros():
    torch.manual_seed(3)
    x = torch.randn(B, I, dtype=torch.float64)
    g = nn.GRUCell(I, H, dtype=torch.float64)
    r = nn.RNNCell(I, H, dtype=torch.float64)
    torch.testing.assert_close(gru_cell(x, None, *_params(g)), g(x), **TOL)
    torch.testing.assert_close(rnn_cell(x, None, *_params(r)), r(x), **TOL)


def test_cells_bad_shapes():
    x, h = torch.randn(B, I), torch.randn(B, H)
    with pytest.raises(ValueError, match=r"expected W_hh of shape \(3H, H\), got \(12, 6\)"):
        gru_cell(x, h, torch.randn(3 * H, I), torch.randn(2 * H, H))
    with pytest.raises(ValueError, match=r"expected W_ih of shape \(3H, I\) = \(18, I\), got \(12, 4\)"):
        gru_cell(x, h, torch.randn(2 * H, I), torch.randn(3 * H, H))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, I\) = \(B, 4\), got \(3, 5\)"):
        rnn_cell(torch.randn(B, 5), h, torch.randn(H, I), torch.randn(H, H))
    with pytest.raises(ValueError, match=r"expected h of shape \(B, H\) = \(3, 6\), got \(2, 6\)"):
        rnn_cell(x, h[:2], torch.randn(H, I), torch.randn(H, H))
    with pytest.raises(ValueError, match=r"expected b_hh of shape \(3H,\) = \(18,\), got \(6,\)"):
        gru_cell(x, h, torch.randn(3 * H, I), torch.randn(3 * H, H), None, torch.randn(H))


@pytest.mark.parametrize("cell, k", [(rnn_cell, 1), (gru_cell, 3)])
@pytest.mark.parametrize("name", ["b_ih", "b_hh"])
def test_cells_check_both_biases(cell, k, name):
    # each bias is validated on its own and the message names it; a wrong bias must not reach the matmul
    x, h = torch.randn(B, I), torch.randn(B, H)
    b = {"b_ih": torch.randn(k * H), "b_hh": torch.randn(k * H)}
    b[name] = torch.randn(k * H + 1)
    with pytest.raises(ValueError) as e:
        cell(x, h, torch.randn(k * H, I), torch.randn(k * H, H), b["b_ih"], b["b_hh"])
    assert str(e.value) == f"expected {name} of shape ({k}H,) = ({k * H},), got ({k * H + 1},)"
