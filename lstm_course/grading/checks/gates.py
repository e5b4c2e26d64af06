"""The judge's checks for ``gates``: ``lstm_cell``, ``lstm_layer``, ``init_forget_bias``.

``make_inputs`` (judge) draws the inputs from the judge's secret generator; the probe process
(``probe_runner.py``) calls the student's function on them and returns what came back as data; ``verdict``
(judge) compares that with references it computes itself with PyTorch's own modules, and returns the failures,
each tagged with the test cell it costs ("visible": both test cells of the function, "hidden": the hidden one).
While ``lstm_layer`` runs, ``lstm_cell`` is the probe's ``standin_cell`` (not an LSTM): the layer must match the
same loop replayed here with the stand-in, or (a layer that does the cell's work itself) PyTorch's ``nn.LSTM``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..probe_runner import standin_cell
from ..protocol import ProbeError, tensor

FUNCTIONS = ("lstm_cell", "lstm_layer", "init_forget_bias")
NO_PYTORCH_LSTM = ("lstm_cell", "lstm_layer")  # must be written by hand: PyTorch's LSTM there earns nothing
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
CELL_CASES = (("hand", 1, 1, 1, torch.float64, False, "visible"), ("float32", 3, 5, 4, torch.float32, False, "visible"),
              ("gradients", 2, 3, 6, torch.float64, True, "visible"), ("B=H=1", 1, 4, 1, torch.float64, True, "hidden"))
LAYER_CASES = (("with a state", 4, 2, 3, 5, torch.float64, True, "visible"),
               ("state None, float32", 3, 3, 2, 4, torch.float32, False, "visible"),
               ("state None, float64", 2, 1, 3, 2, torch.float64, False, "hidden"),
               ("T=1", 1, 2, 2, 3, torch.float64, True, "hidden"))
BIAS_CASES = (("one-layer LSTM, default value", "LSTM", dict(input_size=2, hidden_size=3), None, "visible"),
              ("2-layer bidirectional LSTM, value 2.5", "LSTM",
               dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), 2.5, "hidden"),
              ("LSTMCell, value -1", "LSTMCell", dict(input_size=3, hidden_size=5), -1.0, "hidden"))


# ----------------------------------------------------------------------------------------- inputs
def make_inputs(gen: torch.Generator) -> dict[str, dict]:
    r = lambda *shape, dtype=torch.float64: torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
    cells = []
    for name, B, I, H, dtype, grad, _ in CELL_CASES:
        if name == "hand":  # each gate is its bias: i = 0.75, f = 0.25, g = 0.5, o = 0.5, c_prev = 2
            args = [torch.ones(1, 1, dtype=dtype), torch.zeros(1, 1, dtype=dtype), torch.full((1, 1), 2.0, dtype=dtype),
                    torch.zeros(4, 1, dtype=dtype), torch.zeros(4, 1, dtype=dtype),
                    torch.tensor([math.log(3), -math.log(3), math.atanh(0.5), 0.0], dtype=dtype),
                    torch.zeros(4, dtype=dtype)]
        else:
            args = [r(B, I, dtype=dtype), r(B, H, dtype=dtype), r(B, H, dtype=dtype), r(4 * H, I, dtype=dtype),
                    r(4 * H, H, dtype=dtype), r(4 * H, dtype=dtype), r(4 * H, dtype=dtype)]
        cells.append(dict(args=args, grad=grad, weights=[r(B, H, dtype=dtype), r(B, H, dtype=dtype)]))
    layers = []
    for name, T, B, I, H, dtype, given, _ in LAYER_CASES:
        layers.append(dict(x=r(T, B, I, dtype=dtype), state=[r(B, H, dtype=dtype), r(B, H, dtype=dtype)] if given else None,
                           weights=[r(4 * H, I, dtype=dtype), r(4 * H, H, dtype=dtype), r(4 * H, dtype=dtype),
                                    r(4 * H, dtype=dtype)]))
    biases = []
    for name, kind, config, value, _ in BIAS_CASES:
        shapes = {k: tuple(v.shape) for k, v in getattr(nn, kind)(**config).state_dict().items()}
        biases.append(dict(kind=kind, config=config, value=value, params={k: r(*s) for k, s in shapes.items()}))
    return {"lstm_cell": {"cases": cells}, "lstm_layer": {"cases": layers}, "init_forget_bias": {"cases": biases}}


# ------------------------------------------------------------------------------ judge side: the verdict
def verdict(function: str, inputs: dict, results: dict) -> list[tuple[str, str]]:
    """[(cell, message)] for every check that failed; cell is "visible" or "hidden"."""
    failures = []
    cases = results.get("cases") if isinstance(results, dict) else None
    if not isinstance(cases, list) or len(cases) != len(inputs["cases"]):
        raise ProbeError("the results do not hold one entry per case")
    table = dict(lstm_cell=CELL_CASES, lstm_layer=LAYER_CASES, init_forget_bias=BIAS_CASES)[function]
    for spec, case, got in zip(table, inputs["cases"], cases):
        name, group = spec[0], spec[-1]
        try:
            globals()[f"_judge_{function}"](case, got)
        except (AssertionError, ProbeError, KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
            failures.append((group, f"{function}, {name}: {err}"))
    return failures


def _ok(got: dict) -> None:
    if got.get("status") != "ok":
        raise AssertionError(f"raised {got.get('result')}")


def _pair(value, what: str) -> list:
    if not (isinstance(value, dict) and value.get("container") == "tuple" and len(value.get("items", [])) == 2):
        raise AssertionError(f"{what} must be a tuple of two tensors, got {value!r:.80}")
    return [tensor(t, what) for t in value["items"]]


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: expected dtype {expected.dtype}, got {actual.dtype}")
    if not torch.allclose(actual, expected, **TOL[expected.dtype]):
        raise AssertionError(f"{what} differs from PyTorch's by up to {(actual - expected).abs().max().item():.3g}")


def _unchanged(after: list, before: list, names: list[str]) -> None:
    changed = [n for n, a, b in zip(names, after, before) if not (type(a) is torch.Tensor and torch.equal(a, b))]
    if changed:
        raise AssertionError(f"modified its input {', '.join(changed)} in place")


def _judge_lstm_cell(case: dict, got: dict) -> None:
    _ok(got)
    leaves = [a.clone().requires_grad_(case["grad"]) for a in case["args"]]
    x, h0, c0, W_ih, W_hh, b_ih, b_hh = leaves
    h, c = torch.lstm_cell(x, (h0, c0), W_ih, W_hh, b_ih, b_hh)
    _unchanged(got["after"], case["args"], ["x", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"])
    got_h, got_c = _pair(got["result"], "(h, c)")
    _close(got_h, h.detach(), "h")
    _close(got_c, c.detach(), "c")
    if got.get("device_ok") is not True:
        raise AssertionError("h and c must be on x's device")
    if case["grad"]:
        if got.get("requires_grad") != [True, True]:
            raise AssertionError("h and c are not connected to the autograd graph (.detach(), .data, no_grad?)")
        grads = torch.autograd.grad((h * case["weights"][0]).sum() + (c * case["weights"][1]).sum(), leaves)
        if not isinstance(got.get("grads"), list) or len(got["grads"]) != 7:
            raise AssertionError(f"gradients could not be computed through h and c: {got.get('grads')!r:.120}")
        for name, g, e in zip(["x", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"], got["grads"], grads):
            _close(tensor(g, f"the gradient for {name}"), e, f"the gradient for {name}")


def _replay_layer(x, state, W_ih, W_hh, b_ih, b_hh):
    """What a right lstm_layer returns when its lstm_cell is the probe's stand-in."""
    T, B, H = x.shape[0], x.shape[1], W_hh.shape[1]
    h, c = (torch.zeros(B, H, dtype=x.dtype), torch.zeros(B, H, dtype=x.dtype)) if state is None else state
    outs = []
    for t in range(T):
        h, c = standin_cell(x[t], (h, c), W_ih, W_hh, b_ih, b_hh)
        outs.append(h)
    return torch.stack(outs), h, c  # (T, B, H), (B, H), (B, H)


def _judge_lstm_layer(case: dict, got: dict) -> None:
    _ok(got)
    x, state, (W_ih, W_hh, b_ih, b_hh) = case["x"], case["state"], case["weights"]
    value = got["result"]
    if not (isinstance(value, dict) and value.get("container") == "tuple" and len(value.get("items", [])) == 2):
        raise AssertionError(f"must return (outputs, (h_n, c_n)), got {value!r:.80}")
    got_out = tensor(value["items"][0], "outputs")
    got_h, got_c = _pair(value["items"][1], "(h_n, c_n)")
    _unchanged(got["after"], [x, *(state or []), W_ih, W_hh, b_ih, b_hh],
               ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"] if state else ["x", "W_ih", "W_hh", "b_ih", "b_hh"])
    out, h_n, c_n = _replay_layer(x, state, W_ih, W_hh, b_ih, b_hh)
    try:  # the layer calls lstm_cell at every step: the grader's stand-in cell, replayed here
        _close(got_out, out, "outputs (T, B, H)")
        _close(got_h, h_n, "h_n")
        _close(got_c, c_n, "c_n")
    except AssertionError as stand_in:
        ref = nn.LSTM(x.shape[2], W_hh.shape[1], dtype=x.dtype)  # or it does the cell's work itself
        with torch.no_grad():
            for p, w in zip(ref.parameters(), (W_ih, W_hh, b_ih, b_hh)):
                p.copy_(w)
            out, (h_n, c_n) = ref(x, None if state is None else (state[0][None], state[1][None]))
        try:
            _close(got_out, out, "outputs (T, B, H)")
            _close(got_h, h_n[0], "h_n")
            _close(got_c, c_n[0], "c_n")
        except AssertionError:
            raise AssertionError(f"{stand_in} (while the grader ran lstm_layer, lstm_cell was a stand-in of its own, "
                                 f"so this is lstm_layer's mistake: the loop over t, the state carried from step to "
                                 f"step, or what is stacked)") from None
    if got.get("device_ok") is not True:
        raise AssertionError("the results must be on x's device")


def _judge_init_forget_bias(case: dict, got: dict) -> None:
    _ok(got)
    if got["result"] is not None:
        raise AssertionError(f"must return None (it works in place), got {got['result']!r:.60}")
    if got.get("same_objects") is not True:
        raise AssertionError("the module's parameters were replaced: set the values in place (with torch.no_grad())")
    before, after = case["params"], got["params"]
    if not isinstance(after, dict) or set(after) != set(before):
        raise AssertionError("the module's parameters changed names")
    value = 1.0 if case["value"] is None else case["value"]
    for name, old in before.items():
        new = tensor(after[name], name)
        if new.shape != old.shape:
            raise AssertionError(f"{name} changed shape")
        keep = torch.ones_like(old, dtype=torch.bool)
        if name.startswith("bias_"):
            H = old.shape[0] // 4
            keep[H:2 * H] = False
        if not torch.equal(new[keep], old[keep]):
            raise AssertionError(f"{name} changed outside the forget gate's rows H:2H (gate order i, f, g, o)")
        if name.startswith("bias_ih"):
            H = old.shape[0] // 4
            hh = tensor(after["bias_hh" + name[len("bias_ih"):]], name)
            total = new[H:2 * H] + hh[H:2 * H]
            if not torch.allclose(total, torch.full_like(total, value), rtol=1e-6, atol=1e-9):
                raise AssertionError(f"the forget slice of {name} + bias_hh is {total.tolist()}, expected {value} "
                                     f"everywhere (PyTorch adds both biases)")
