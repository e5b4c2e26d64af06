"""The LSTM cell written by hand, and the tools that look inside a trained ``nn.LSTM``.

Equations (PyTorch's, gate order **i, f, g, o**), for one time step with input ``x_t`` and
previous state ``(h_{t-1}, c_{t-1})``::

    i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
    f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)        cell candidate
    o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

Weight layout (identical to ``nn.LSTM`` / ``nn.LSTMCell``): the four gates are stacked along the
first dimension, ``W_ih = [W_ii; W_if; W_ig; W_io]`` of shape (4H, I), ``W_hh`` (4H, H), biases (4H,).
Because the layout is the same, weights move between these functions, :class:`HandLSTM` and
``nn.LSTM`` without reshuffling.

Legend: B batch, T time steps, I input size, H hidden size.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Optional

import torch
from torch import Tensor, nn

State = tuple[Tensor, Tensor]

GATES = ("i", "f", "g", "o")


def _check_weights(W_ih: Tensor, W_hh: Tensor, b_ih: Optional[Tensor], b_hh: Optional[Tensor]) -> tuple[int, int]:
    """Validate the stacked weights; return (I, H)."""
    if W_hh.dim() != 2 or W_hh.shape[0] != 4 * W_hh.shape[1]:
        raise ValueError(f"expected W_hh of shape (4H, H), got {tuple(W_hh.shape)}")
    H = W_hh.shape[1]
    if W_ih.dim() != 2 or W_ih.shape[0] != 4 * H:
        raise ValueError(f"expected W_ih of shape (4H, I) = ({4 * H}, I), got {tuple(W_ih.shape)}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (4 * H,):
            raise ValueError(f"expected {name} of shape (4H,) = ({4 * H},), got {tuple(b.shape)}")
    return W_ih.shape[1], H


def _initial_state(x: Tensor, state: Optional[State], B: int, H: int, names: tuple[str, str]) -> State:
    """``state`` checked to be two (B, H) tensors, or zeros like ``x`` when it is ``None``."""
    if state is None:
        return x.new_zeros(B, H), x.new_zeros(B, H)
    h, c = state
    for name, t in zip(names, (h, c)):
        if tuple(t.shape) != (B, H):
            raise ValueError(f"expected {name} of shape (B, H) = ({B}, {H}), got {tuple(t.shape)}")
    return h, c


def _cell(x: Tensor, h: Tensor, c: Tensor, W_ih: Tensor, W_hh: Tensor,
          b_ih: Optional[Tensor], b_hh: Optional[Tensor]) -> State:
    # Unchecked step, shared by lstm_cell and lstm_layer (which validates once, not T times).
    gates = x @ W_ih.T + h @ W_hh.T  # (B, 4H)
    if b_ih is not None:
        gates = gates + b_ih
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g  # (B, H)
    h = o * torch.tanh(c)  # (B, H)
    return h, c


def lstm_cell(x: Tensor, state: Optional[State], W_ih: Tensor, W_hh: Tensor,
              b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> State:
    """One LSTM time step, equal to ``nn.LSTMCell`` with the same weights.

    Args:
        x: input of shape (B, I).
        state: ``(h, c)``, each (B, H), or ``None`` for zeros.
        W_ih: stacked input weights (4H, I), gate order i, f, g, o.
        W_hh: stacked recurrent weights (4H, H).
        b_ih, b_hh: biases (4H,) or ``None`` (no bias). Default: ``None``.

    Returns:
        ``(h, c)``, each of shape (B, H).
    """
    I, H = _check_weights(W_ih, W_hh, b_ih, b_hh)
    if x.dim() != 2 or x.shape[1] != I:
        raise ValueError(f"expected x of shape (B, I) = (B, {I}), got {tuple(x.shape)}")
    h, c = _initial_state(x, state, x.shape[0], H, ("h", "c"))  # each (B, H)
    return _cell(x, h, c, W_ih, W_hh, b_ih, b_hh)


def lstm_layer(x: Tensor, state: Optional[State], W_ih: Tensor, W_hh: Tensor,
               b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> tuple[Tensor, State]:
    """Run :func:`lstm_cell` over time: one layer, one direction, a Python loop over T.

    Args:
        x: inputs of shape (T, B, I) (time first, like ``nn.LSTM`` with ``batch_first=False``).
        state: initial ``(h_0, c_0)``, each (B, H), or ``None`` for zeros.
        W_ih, W_hh, b_ih, b_hh: as in :func:`lstm_cell`.

    Returns:
        ``(outputs, (h_n, c_n))``: outputs (T, B, H) holds every ``h_t``; ``h_n``, ``c_n`` (B, H)
        are the state after the last step (feed them back in to continue the sequence).
    """
    I, H = _check_weights(W_ih, W_hh, b_ih, b_hh)
    if x.dim() != 3 or x.shape[2] != I:
        raise ValueError(f"expected x of shape (T, B, I) = (T, B, {I}), got {tuple(x.shape)}")
    T, B, _ = x.shape
    if T == 0:
        raise ValueError("expected at least one time step, got T = 0")
    h, c = _initial_state(x, state, B, H, ("h_0", "c_0"))  # each (B, H)
    outputs = []
    for t in range(T):
        h, c = _cell(x[t], h, c, W_ih, W_hh, b_ih, b_hh)
        outputs.append(h)
    return torch.stack(outputs), (h, c)  # (T, B, H)


def init_forget_bias(module: nn.Module, value: float = 1.0) -> None:
    """Set the forget-gate bias of every layer and direction of an LSTM, in place.

    PyTorch adds two biases, so the effective forget bias is ``b_ih[f] + b_hh[f]``; this sets
    ``b_ih[H:2H] = value`` and ``b_hh[H:2H] = 0`` so that the sum is exactly ``value``. Other
    entries are unchanged. A positive value starts the cell close to "remember everything"
    (Gers et al., 2000; Jozefowicz et al., 2015).

    Args:
        module: an ``nn.LSTM``, ``nn.LSTMCell`` or :class:`HandLSTM` (any module whose
            parameters are named ``bias_ih*`` / ``bias_hh*`` with the stacked layout).
        value: the forget-gate bias. Default: 1.0.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"expected an nn.LSTM or nn.LSTMCell, got {type(module).__name__}")
    params = dict(module.named_parameters(recurse=False))
    ih = sorted(k for k in params if k.startswith("bias_ih"))
    if not ih:
        raise ValueError(f"expected an LSTM with biases (bias=True), got {type(module).__name__} without bias_ih parameters")
    with torch.no_grad():
        for k in ih:
            b_ih, b_hh = params[k], params["bias_hh" + k[len("bias_ih"):]]
            H = b_ih.shape[0] // 4
            b_ih[H:2 * H].fill_(value)
            b_hh[H:2 * H].zero_()


class HandLSTM(nn.Module):
    """One LSTM layer built from :func:`lstm_layer`, a drop-in for a 1-layer ``nn.LSTM``.

    Parameters are named and shaped like ``nn.LSTM``'s (``weight_ih_l0`` (4H, I),
    ``weight_hh_l0`` (4H, H), ``bias_ih_l0``, ``bias_hh_l0`` (4H,)), so ``state_dict``s load
    both ways, and are initialised the same way, uniform(-1/sqrt(H), 1/sqrt(H)).

    Args:
        input_size: I.
        hidden_size: H.
        bias: whether to use the two bias vectors. Default: ``True``.
        batch_first: inputs/outputs are (B, T, ·) instead of (T, B, ·). Default: ``False``.
        device, dtype: factory arguments, as for any ``nn.Module``.

    Shapes:
        forward(x, state=None): x (T, B, I) (or (B, T, I) if batch_first); state ``(h_0, c_0)``
        each (1, B, H) or ``None`` for zeros. Returns ``(output, (h_n, c_n))``: output (T, B, H)
        (or (B, T, H)), h_n and c_n (1, B, H) — exactly like ``nn.LSTM``.
    """

    _layer: Callable = staticmethod(lstm_layer)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = False,
                 device: Optional[torch.device | str] = None, dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"expected input_size and hidden_size >= 1, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.bias, self.batch_first = bias, batch_first
        kw = {"device": device, "dtype": dtype}
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size, **kw))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, **kw))
            self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every parameter from uniform(-1/sqrt(H), 1/sqrt(H)), as ``nn.LSTM`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state: Optional[State] = None) -> tuple[Tensor, State]:
        if x.dim() != 3:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"expected x of shape {layout}, got {tuple(x.shape)}")
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        if state is not None:
            h0, c0 = state
            B = x.shape[1]
            for name, t in (("h_0", h0), ("c_0", c0)):
                if tuple(t.shape) != (1, B, self.hidden_size):
                    raise ValueError(f"expected {name} of shape (1, B, H) = (1, {B}, {self.hidden_size}), "
                                     f"got {tuple(t.shape)}")
            state = (h0[0], c0[0])  # (B, H)
        out, (h, c) = type(self)._layer(x, state, self.weight_ih_l0, self.weight_hh_l0,
                                        self.bias_ih_l0, self.bias_hh_l0)  # (T, B, H)
        if self.batch_first:
            out = out.transpose(0, 1)  # (B, T, H)
        return out, (h.unsqueeze(0), c.unsqueeze(0))  # (1, B, H)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, batch_first={self.batch_first}"


# --- TorchScript version (speed chapter) -------------------------------------------------------
# The same loop compiled with torch.jit.script: the interpreter overhead per step disappears, the
# arithmetic does not. torch.jit.script is deprecated in recent PyTorch (it warns); it is compiled
# lazily on first use so that importing this module stays silent and cheap.

def _script_source(x: Tensor, h: Tensor, c: Tensor, W_ih: Tensor, W_hh: Tensor,
                   b_ih: Optional[Tensor], b_hh: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor]:  # pragma: no mutate block
    # (the pragma: torch.jit.script compiles this function from its source, which mutmut would replace by a
    # trampoline TorchScript cannot compile; test_scripted_matches_eager guards it instead)
    # Input projection for all steps in one matmul: only the recurrent part must stay in the loop.
    xw = torch.matmul(x, W_ih.t())  # (T, B, 4H)
    if b_ih is not None:
        xw = xw + b_ih
    outputs = []
    for t in range(x.size(0)):
        gates = xw[t] + torch.matmul(h, W_hh.t())  # (B, 4H)
        if b_hh is not None:
            gates = gates + b_hh
        i, f, g, o = gates.chunk(4, 1)  # each (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs), h, c  # (T, B, H)


_SCRIPTED: list = []


def _scripted_fn() -> Callable:
    if not _SCRIPTED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            _SCRIPTED.append(torch.jit.script(_script_source))
    return _SCRIPTED[0]


def scripted_lstm_layer(x: Tensor, state: Optional[State], W_ih: Tensor, W_hh: Tensor,
                        b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> tuple[Tensor, State]:
    """:func:`lstm_layer` compiled with TorchScript; same arguments, shapes and results."""
    I, H = _check_weights(W_ih, W_hh, b_ih, b_hh)
    if x.dim() != 3 or x.shape[2] != I:
        raise ValueError(f"expected x of shape (T, B, I) = (T, B, {I}), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("expected at least one time step, got T = 0")
    h, c = _initial_state(x, state, x.shape[1], H, ("h_0", "c_0"))  # each (B, H)
    out, h, c = _scripted_fn()(x, h, c, W_ih, W_hh, b_ih, b_hh)  # (T, B, H)
    return out, (h, c)


class ScriptedLSTM(HandLSTM):
    """:class:`HandLSTM` whose time loop runs in TorchScript (same parameters, same results)."""

    _layer: Callable = staticmethod(scripted_lstm_layer)


# --- looking inside a trained nn.LSTM ------------------------------------------------------------

@torch.no_grad()
def trace_gates(lstm: nn.LSTM, x: Tensor, layer: int = 0, state: Optional[State] = None) -> dict[str, Tensor]:
    """Recompute every gate of one layer of a (unidirectional) ``nn.LSTM``, step by step.

    ``nn.LSTM`` returns only ``h``; for "inside the LSTM" plots we need i, f, g, o and c too.
    This replays the layers 0..``layer`` with the module's own weights (no grad) for one sequence.

    Args:
        lstm: a unidirectional ``nn.LSTM`` without projections.
        x: the layer-0 inputs of one sequence (e.g. after the embedding): (T, I), or (1, T, I)
            if ``lstm.batch_first`` else (T, 1, I).
        layer: which layer to trace. Default: 0.
        state: initial ``(h_0, c_0)`` as for ``nn.LSTM``, each (num_layers, 1, H), or ``None``.

    Returns:
        dict with keys ``"i", "f", "g", "o", "c", "h"``, each a tensor (T, H) on ``x``'s device.
    """
    if not isinstance(lstm, nn.LSTM):
        raise ValueError(f"expected an nn.LSTM, got {type(lstm).__name__}")
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("expected a unidirectional nn.LSTM without proj_size, got "
                         f"bidirectional={lstm.bidirectional}, proj_size={lstm.proj_size}")
    if not 0 <= layer < lstm.num_layers:
        raise ValueError(f"expected 0 <= layer < {lstm.num_layers}, got {layer}")
    if x.dim() == 3:
        bdim = 0 if lstm.batch_first else 1
        if x.shape[bdim] != 1:
            raise ValueError(f"expected a single sequence (batch size 1), got shape {tuple(x.shape)}")
        x = x.squeeze(bdim)
    if x.dim() != 2 or x.shape[1] != lstm.input_size:
        raise ValueError(f"expected x of shape (T, I) = (T, {lstm.input_size}), got {tuple(x.shape)}")
    H = lstm.hidden_size
    inp = x.to(lstm.weight_ih_l0.dtype)  # (T, I)
    for k in range(layer + 1):
        W_ih, W_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
        b_ih = getattr(lstm, f"bias_ih_l{k}") if lstm.bias else None
        b_hh = getattr(lstm, f"bias_hh_l{k}") if lstm.bias else None
        if state is None:
            h, c = inp.new_zeros(1, H), inp.new_zeros(1, H)
        else:
            h, c = state[0][k], state[1][k]  # (1, H)
        if k < layer:
            out, _ = lstm_layer(inp.unsqueeze(1), (h, c), W_ih, W_hh, b_ih, b_hh)  # (T, 1, H)
            inp = out.squeeze(1)  # (T, H)
            continue
        rec = {g: [] for g in (*GATES, "c", "h")}
        for t in range(inp.shape[0]):
            gates = inp[t:t + 1] @ W_ih.T + h @ W_hh.T  # (1, 4H)
            if b_ih is not None:
                gates = gates + b_ih + b_hh
            i, f, g, o = gates.chunk(4, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            for name, v in zip((*GATES, "c", "h"), (i, f, g, o, c, h)):
                rec[name].append(v[0])
    return {name: torch.stack(vs) for name, vs in rec.items()}  # each (T, H)


# --- the vanilla RNN and the GRU, by hand ---------------------------------------------------------
# Same conventions as the LSTM above: stacked weights in PyTorch's layout, so nn.RNN / nn.GRUCell
# weights plug in unchanged. The RNN has one "gate" block (k = 1), the GRU three (k = 3, order r, z, n).

GRU_GATES = ("r", "z", "n")


def _check_stacked(k: int, x: Tensor, h: Optional[Tensor], W_ih: Tensor, W_hh: Tensor, b_ih: Optional[Tensor],
                   b_hh: Optional[Tensor]) -> Tensor:
    """Validate (kH, I) / (kH, H) weights, (kH,) biases, x (B, I), h (B, H); return h (zeros if None)."""
    if W_hh.dim() != 2 or W_hh.shape[0] != k * W_hh.shape[1]:
        raise ValueError(f"expected W_hh of shape ({k}H, H), got {tuple(W_hh.shape)}")
    H = W_hh.shape[1]
    if W_ih.dim() != 2 or W_ih.shape[0] != k * H:
        raise ValueError(f"expected W_ih of shape ({k}H, I) = ({k * H}, I), got {tuple(W_ih.shape)}")
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (k * H,):
            raise ValueError(f"expected {name} of shape ({k}H,) = ({k * H},), got {tuple(b.shape)}")
    if x.dim() != 2 or x.shape[1] != W_ih.shape[1]:
        raise ValueError(f"expected x of shape (B, I) = (B, {W_ih.shape[1]}), got {tuple(x.shape)}")
    if h is None:
        return x.new_zeros(x.shape[0], H)
    if tuple(h.shape) != (x.shape[0], H):
        raise ValueError(f"expected h of shape (B, H) = ({x.shape[0]}, {H}), got {tuple(h.shape)}")
    return h


def _affine(v: Tensor, W: Tensor, b: Optional[Tensor]) -> Tensor:
    return v @ W.T if b is None else v @ W.T + b


def rnn_cell(x: Tensor, h: Optional[Tensor], W_ih: Tensor, W_hh: Tensor,
             b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One step of the Elman RNN, equal to ``nn.RNNCell`` / one step of ``nn.RNN`` (tanh).

    x (B, I); h (B, H) or ``None`` for zeros; W_ih (H, I), W_hh (H, H), biases (H,) or ``None``.
    Returns the new h (B, H). The whole memory is h, rewritten by one matrix and one tanh per step.
    """
    h = _check_stacked(1, x, h, W_ih, W_hh, b_ih, b_hh)
    return torch.tanh(_affine(x, W_ih, b_ih) + _affine(h, W_hh, b_hh))  # (B, H)


def gru_cell(x: Tensor, h: Optional[Tensor], W_ih: Tensor, W_hh: Tensor,
             b_ih: Optional[Tensor] = None, b_hh: Optional[Tensor] = None) -> Tensor:
    """One GRU step, equal to ``nn.GRUCell`` with the same weights (PyTorch's equations)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate; b_hn sits inside r * (...)
        h' = (1 - z) * n + z * h

    Args:
        x: (B, I). h: (B, H) or ``None`` for zeros.
        W_ih: (3H, I) stacked r, z, n (``GRU_GATES``); W_hh: (3H, H); b_ih, b_hh: (3H,) or ``None``.

    Returns:
        the new h (B, H). No separate cell state: z interpolates between keeping h and replacing it.
    """
    h = _check_stacked(3, x, h, W_ih, W_hh, b_ih, b_hh)
    xr, xz, xn = _affine(x, W_ih, b_ih).chunk(3, dim=1)  # each (B, H)
    hr, hz, hn = _affine(h, W_hh, b_hh).chunk(3, dim=1)  # each (B, H); hn includes b_hn
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)  # the reset gate scales the recurrent term *with* its bias
    return (1 - z) * n + z * h  # (B, H)
