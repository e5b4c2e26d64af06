"""The LSTM cell forward and backward in NumPy: no autograd, every derivative written out.

Forward, for one step (PyTorch's equations and gate order **i, f, g, o**; ``b`` is the sum of
``nn.LSTM``'s two biases ``b_ih + b_hh``, which always appear added together)::

    a   = x W_ih^T + h_prev W_hh^T + b          (B, 4H)  pre-activations, stacked i, f, g, o
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);   g = tanh(a_g)
    c   = f * c_prev + i * g
    h   = o * tanh(c)

Backward, given the loss gradients ``dh = dL/dh`` and ``dc = dL/dc`` arriving at this step::

    do      = dh * tanh(c)
    dc_tot  = dc + dh * o * (1 - tanh(c)^2)       # c reaches L directly and through h
    di, df, dg = dc_tot * g, dc_tot * c_prev, dc_tot * i
    dc_prev = dc_tot * f                           # the additive path: scaled by f only
    da      = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]      (B, 4H)
    dW_ih = da^T x,  dW_hh = da^T h_prev,  db = sum_B da,  dx = da W_ih,  dh_prev = da W_hh

BPTT runs that step backward from the last time step to the first, adding the gradient that
arrives at ``h_t`` from the loss to the one coming back from step t+1.

:func:`autograd_reference` computes the same gradients with ``nn.LSTM`` and autograd (the check),
:func:`numerical_gradient` with central finite differences (a check that trusts neither).

Legend: T time steps, B batch, I input size, H hidden size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from lstm_course.cell import GATES

__all__ = ["StepCache", "StepGrads", "SequenceGrads", "sigmoid", "lstm_step_forward", "lstm_step_backward",
           "lstm_forward", "lstm_backward", "cell_jacobian", "autograd_reference", "numerical_gradient", "max_abs_diff", "GATES"]


@dataclass
class StepCache:
    """What the backward pass of one step needs from its forward pass (each (B, ·) array)."""

    x: np.ndarray  # (B, I)
    h_prev: np.ndarray  # (B, H)
    c_prev: np.ndarray  # (B, H)
    i: np.ndarray  # (B, H) gate values after their nonlinearity
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray  # (B, H)
    tanh_c: np.ndarray  # (B, H)


@dataclass
class StepGrads:
    """Gradients of the loss with respect to one step's inputs and (this step's share of) weights."""

    dx: np.ndarray  # (B, I)
    dh_prev: np.ndarray  # (B, H)
    dc_prev: np.ndarray  # (B, H)
    dW_ih: np.ndarray  # (4H, I)
    dW_hh: np.ndarray  # (4H, H)
    db: np.ndarray  # (4H,)


@dataclass
class SequenceGrads:
    """Gradients of the loss after BPTT over a whole sequence."""

    dx: np.ndarray  # (T, B, I)
    dh0: np.ndarray  # (B, H)
    dc0: np.ndarray  # (B, H)
    dW_ih: np.ndarray  # (4H, I)
    dW_hh: np.ndarray  # (4H, H)
    db: np.ndarray  # (4H,)

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"dW_ih": …, "dW_hh": …, "db": …, "dx": …, "dh0": …, "dc0": …}`` (keys as in :func:`autograd_reference`)."""
        return {k: getattr(self, k) for k in ("dW_ih", "dW_hh", "db", "dx", "dh0", "dc0")}


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, computed without overflow warnings for large negative ``a``."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _shape(name: str, a: np.ndarray, expected: tuple, legend: str) -> None:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"expected {name} to be a NumPy array, got {type(a).__name__}")
    if a.shape != expected:
        raise ValueError(f"expected {name} of shape {legend} = {expected}, got {a.shape}")


def _check_weights(W_ih: np.ndarray, W_hh: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Validate the stacked weights; return (I, H)."""
    if not isinstance(W_hh, np.ndarray) or W_hh.ndim != 2 or W_hh.shape[0] != 4 * W_hh.shape[1]:
        raise ValueError(f"expected W_hh of shape (4H, H), got {getattr(W_hh, 'shape', type(W_hh).__name__)}")
    H = W_hh.shape[1]
    if not isinstance(W_ih, np.ndarray) or W_ih.ndim != 2 or W_ih.shape[0] != 4 * H:
        raise ValueError(f"expected W_ih of shape (4H, I) = ({4 * H}, I), "
                         f"got {getattr(W_ih, 'shape', type(W_ih).__name__)}")
    _shape("b", b, (4 * H,), "(4H,)")
    return W_ih.shape[1], H


def _step(x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
          b: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepCache]:
    # Unchecked step, shared by lstm_step_forward and lstm_forward (which validates once).
    a = x @ W_ih.T + h_prev @ W_hh.T + b  # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)  # each (B, H)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g  # (B, H)
    tanh_c = np.tanh(c)
    h = o * tanh_c  # (B, H)
    return h, c, StepCache(x, h_prev, c_prev, i, f, g, o, c, tanh_c)


def lstm_step_forward(x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, W_ih: np.ndarray,
                      W_hh: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepCache]:
    """One LSTM step. x (B, I), h_prev and c_prev (B, H), W_ih (4H, I), W_hh (4H, H), b (4H,).

    Returns ``(h, c, cache)``: h and c (B, H) and the :class:`StepCache` for :func:`lstm_step_backward`.
    """
    I, H = _check_weights(W_ih, W_hh, b)
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != I:
        raise ValueError(f"expected x of shape (B, I) = (B, {I}), got {getattr(x, 'shape', type(x).__name__)}")
    B = x.shape[0]
    _shape("h_prev", h_prev, (B, H), "(B, H)")
    _shape("c_prev", c_prev, (B, H), "(B, H)")
    return _step(x, h_prev, c_prev, W_ih, W_hh, b)


def lstm_step_backward(dh: np.ndarray, dc: np.ndarray, cache: StepCache, W_ih: np.ndarray,
                       W_hh: np.ndarray) -> StepGrads:
    """Backward pass of one step.

    Args:
        dh: dL/dh for this step's output h, (B, H) (from the loss at this step plus step t+1).
        dc: dL/dc for this step's cell state, (B, H) (from step t+1; zeros at the last step
            unless the loss uses c_T).
        cache: from :func:`lstm_step_forward` for this step.
        W_ih, W_hh: the weights used in the forward pass.

    Returns:
        :class:`StepGrads` with dx, dh_prev, dc_prev and this step's weight gradients.

    Raises:
        ValueError: dh or dc not of the shape (B, H) of the cached state (NumPy would broadcast an (H,)
            or (1, H) array silently, and the gradients would be wrong or of the wrong shape).
    """
    x, h_prev, c_prev = cache.x, cache.h_prev, cache.c_prev
    _shape("dh", dh, h_prev.shape, "(B, H)")
    _shape("dc", dc, h_prev.shape, "(B, H)")
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    do = dh * tanh_c  # (B, H)
    dc_tot = dc + dh * o * (1.0 - tanh_c ** 2)  # c reaches the loss directly and through h = o tanh(c)
    di, df, dg = dc_tot * g, dc_tot * c_prev, dc_tot * i
    dc_prev = dc_tot * f  # the additive cell path: only the forget gate scales it
    # through each gate's nonlinearity: sigmoid' = s(1 - s), tanh' = 1 - tanh^2
    da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g ** 2), do * o * (1.0 - o)],
                        axis=1)  # (B, 4H), gate order i, f, g, o
    return StepGrads(dx=da @ W_ih,  # (B, I)
                     dh_prev=da @ W_hh,  # (B, H)
                     dc_prev=dc_prev,
                     dW_ih=da.T @ x,  # (4H, I)
                     dW_hh=da.T @ h_prev,  # (4H, H)
                     db=da.sum(axis=0))  # (4H,): the bias is shared by every row of the batch


def lstm_forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                 b: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], list[StepCache]]:
    """Run the cell over a sequence. x (T, B, I) time first; h0, c0 (B, H).

    Returns ``(hs, (h_T, c_T), caches)``: hs (T, B, H) every hidden state, the final state, and one
    :class:`StepCache` per step for :func:`lstm_backward`.
    """
    I, H = _check_weights(W_ih, W_hh, b)
    if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[2] != I:
        raise ValueError(f"expected x of shape (T, B, I) = (T, B, {I}), got {getattr(x, 'shape', type(x).__name__)}")
    T, B, _ = x.shape
    if T == 0:
        raise ValueError("expected at least one time step, got T = 0")
    _shape("h0", h0, (B, H), "(B, H)")
    _shape("c0", c0, (B, H), "(B, H)")
    h, c, hs, caches = h0, c0, [], []
    for t in range(T):
        h, c, cache = _step(x[t], h, c, W_ih, W_hh, b)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs), (h, c), caches  # (T, B, H)


StepBackward = Callable[[np.ndarray, np.ndarray, StepCache, np.ndarray, np.ndarray], StepGrads]


def lstm_backward(dhs: np.ndarray, caches: list[StepCache], W_ih: np.ndarray, W_hh: np.ndarray,
                  dc_T: Optional[np.ndarray] = None,
                  step_backward: StepBackward = lstm_step_backward) -> SequenceGrads:
    """Backpropagation through time over the steps recorded in ``caches``.

    Args:
        dhs: dL/dh_t from the loss at every step, (T, B, H) (zeros where a step's output is unused;
            a loss on h_T alone puts its gradient in ``dhs[-1]``).
        caches: from :func:`lstm_forward`.
        W_ih, W_hh: the weights used in the forward pass.
        dc_T: dL/dc_T if the loss uses the final cell state, (B, H); ``None`` = zeros.
        step_backward: the one-step backward to use; swap in another one to test it. Default:
            :func:`lstm_step_backward`.

    Returns:
        :class:`SequenceGrads`: dx (T, B, I), dh0, dc0 (B, H) and the weight gradients summed over time.
    """
    T = len(caches)
    if T == 0:
        raise ValueError("expected at least one cache, got none")
    B, H = caches[0].h_prev.shape
    _shape("dhs", dhs, (T, B, H), "(T, B, H)")
    dc = np.zeros((B, H), dtype=dhs.dtype) if dc_T is None else dc_T
    _shape("dc_T", dc, (B, H), "(B, H)")
    dh_next = np.zeros((B, H), dtype=dhs.dtype)  # gradient arriving at h_t from step t+1
    dx = np.zeros((T, B, caches[0].x.shape[1]), dtype=dhs.dtype)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros(W_hh.shape[0], dtype=W_hh.dtype)
    for t in reversed(range(T)):
        grads = step_backward(dhs[t] + dh_next, dc, caches[t], W_ih, W_hh)
        dx[t] = grads.dx
        dW_ih += grads.dW_ih  # the same weights act at every step: their gradients add up
        dW_hh += grads.dW_hh
        db += grads.db
        dh_next, dc = grads.dh_prev, grads.dc_prev
    return SequenceGrads(dx=dx, dh0=dh_next, dc0=dc, dW_ih=dW_ih, dW_hh=dW_hh, db=db)


def cell_jacobian(cache: StepCache, W_hh: np.ndarray, o_prev: Optional[np.ndarray] = None) -> np.ndarray:
    """The Jacobian dc_t/dc_{t-1} of one step, per batch row: (B, H, H), ``J[b, j, k] = dc_t[b, j] / dc_{t-1}[b, k]``.

    ``c_t = f_t * c_{t-1} + i_t * g_t`` gives the diagonal ``diag(f_t)`` directly. The gates also
    depend on ``h_{t-1} = o_{t-1} * tanh(c_{t-1})``, which adds a full matrix through ``W_hh``::

        J = diag(f_t) + [diag(c_{t-1} f'(.)) W_hf + diag(g_t i'(.)) W_hi + diag(i_t g'(.)) W_hg] diag(o_{t-1} tanh'(c_{t-1}))

    Args:
        cache: step t's :class:`StepCache`.
        W_hh: (4H, H), the recurrent weights.
        o_prev: o_{t-1} (B, H), the previous step's output gate; ``None`` when h_{t-1} is not
            computed from c_{t-1} (the first step, whose h_0 and c_0 are independent inputs):
            then only ``diag(f_t)`` is left.
    """
    B, H = cache.f.shape
    J = np.zeros((B, H, H), dtype=cache.f.dtype)
    idx = np.arange(H)
    J[:, idx, idx] = cache.f  # the additive cell path
    if o_prev is None:
        return J
    _shape("o_prev", o_prev, (B, H), "(B, H)")
    W_hi, W_hf, W_hg, _ = np.split(W_hh, 4, axis=0)  # each (H, H)
    i, f, g = cache.i, cache.f, cache.g
    dc_dh = ((cache.c_prev * f * (1 - f))[:, :, None] * W_hf + (g * i * (1 - i))[:, :, None] * W_hi
             + (i * (1 - g ** 2))[:, :, None] * W_hg)  # (B, H, H): through the f, i and g gates
    dh_dc = o_prev * (1 - np.tanh(cache.c_prev) ** 2)  # (B, H): h_{t-1} = o_{t-1} tanh(c_{t-1})
    return J + dc_dh * dh_dc[:, None, :]


def autograd_reference(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, W_ih: np.ndarray, W_hh: np.ndarray,
                       b: np.ndarray, dhs: np.ndarray, dc_T: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """The same forward and gradients computed by ``nn.LSTM`` and autograd, in float64.

    The weights are loaded into an ``nn.LSTM`` (``b_ih = b``, ``b_hh = 0``); the loss is
    ``L = sum(hs * dhs) + sum(c_T * dc_T)``, whose gradient with respect to hs is exactly ``dhs``,
    so the result is comparable with :func:`lstm_backward` (``dhs``, ``dc_T``).

    Returns:
        dict with ``"hs"`` (T, B, H), ``"h_T"``, ``"c_T"`` and the gradients ``"dW_ih"``,
        ``"dW_hh"``, ``"db"`` (equal to the gradient of either PyTorch bias), ``"dx"``, ``"dh0"``, ``"dc0"``.
    """
    import torch
    from torch import nn

    I, H = _check_weights(W_ih, W_hh, b)
    lstm = nn.LSTM(I, H, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(W_ih))
        lstm.weight_hh_l0.copy_(torch.from_numpy(W_hh))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    xt, h0t, c0t = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, h0, c0))
    hs, (h_T, c_T) = lstm(xt, (h0t.unsqueeze(0), c0t.unsqueeze(0)))  # (T, B, H), (1, B, H)
    loss = (hs * torch.from_numpy(dhs)).sum()
    if dc_T is not None:
        loss = loss + (c_T[0] * torch.from_numpy(dc_T)).sum()
    loss.backward()
    out = {"hs": hs, "h_T": h_T[0], "c_T": c_T[0], "dW_ih": lstm.weight_ih_l0.grad, "dW_hh": lstm.weight_hh_l0.grad,
           "db": lstm.bias_ih_l0.grad, "dx": xt.grad, "dh0": h0t.grad, "dc0": c0t.grad}
    return {k: v.detach().numpy() for k, v in out.items()}


def numerical_gradient(f: Callable[[], float], a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar ``f()`` with respect to every entry of ``a``.

    ``a`` is changed in place one entry at a time (and restored), so ``f`` must read it; the error
    is O(eps^2) plus rounding, about 1e-9 relative in float64 with the default ``eps``.
    """
    if not isinstance(a, np.ndarray) or a.dtype != np.float64:
        raise ValueError(f"expected a float64 NumPy array, got {getattr(a, 'dtype', type(a).__name__)}")
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)  # views: writing flat[k] changes a
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        up = f()
        flat[k] = old - eps
        down = f()
        flat[k] = old
        gflat[k] = (up - down) / (2 * eps)
    return grad


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute elementwise difference; shapes must match exactly."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"expected arrays of the same shape, got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
