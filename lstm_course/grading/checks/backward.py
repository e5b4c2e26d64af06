"""The judge's checks for ``backward``: ``lstm_step_backward`` and ``lstm_backward``, in NumPy.

``make_inputs`` (judge) draws the weights, inputs and upstream gradients from the judge's secret generator and runs
the forward pass itself (:mod:`lstm_course.numpy_cell`), so the probe receives ready caches; the probe process
(``probe_runner.py``) rebuilds the caches, calls the student's function and returns every returned array as a
tensor, with the inputs as they were after the call; ``verdict`` (judge) recomputes the package's own backward
(``numpy_cell.lstm_step_backward`` / ``lstm_backward``, checked against autograd and finite differences in
tests/test_numpy_cell.py) and returns the failures, each tagged with the test cell it costs ("visible": both test
cells of the function, "hidden": the hidden one). While ``lstm_backward`` is probed, ``lstm_step_backward`` is the
probe's ``standin_step`` (not an LSTM's backward, and no answer to call): the BPTT loop is replayed here with the
same stand-in, so a wrong step costs points in its own function only.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..probe_runner import standin_step
from ..protocol import ProbeError, tensor

FUNCTIONS = ("lstm_step_backward", "lstm_backward")
NO_PYTORCH_LSTM = FUNCTIONS  # nn.LSTM's output is not a backward pass written by hand
NO_AUTOGRAD = FUNCTIONS  # the whole point: the gradients by hand, not by torch.autograd
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
STEP_FIELDS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
SEQ_FIELDS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db")
CACHE_FIELDS = ("x", "h_prev", "c_prev", "i", "f", "g", "o", "c", "tanh_c")
GATE_ROWS = ("i (rows 0:H)", "f (rows H:2H)", "g (rows 2H:3H)", "o (rows 3H:4H)")
# name, B, I, H, dtype, upstream ("both", "dh", "dc", "bad dh", "bad dc", "hand"), cell
STEP_CASES = (("hand-computable, B = I = H = 1", 1, 1, 1, torch.float64, "hand", "visible"),
              ("float32, B=3, I=5, H=4", 3, 5, 4, torch.float32, "both", "visible"),
              ("float64, B=2, I=3, H=6", 2, 3, 6, torch.float64, "both", "visible"),
              ("dh of shape (H,)", 3, 2, 4, torch.float64, "bad dh", "visible"),
              ("dc alone (dh = 0)", 2, 4, 3, torch.float64, "dc", "hidden"),
              ("dh alone (dc = 0)", 4, 2, 3, torch.float64, "dh", "hidden"),
              ("B = H = 1", 1, 3, 1, torch.float64, "both", "hidden"),
              ("dc of shape (1, H)", 3, 2, 4, torch.float64, "bad dc", "hidden"))
# name, T, B, I, H, dtype, dc_T given, dhs shape ("ok" or "short"), cell
SEQ_CASES = (("T=4 with dc_T", 4, 2, 3, 5, torch.float64, True, "ok", "visible"),
             ("T=3, dc_T None, float32", 3, 3, 2, 4, torch.float32, False, "ok", "visible"),
             ("dhs one step short", 3, 2, 2, 3, torch.float64, False, "short", "visible"),
             ("T=1 with dc_T", 1, 2, 2, 3, torch.float64, True, "ok", "hidden"),
             ("T=6, B=1, dc_T None", 6, 1, 3, 2, torch.float64, False, "ok", "hidden"),
             ("T=5, loss on h_T and c_T only", 5, 2, 2, 3, torch.float64, True, "last", "hidden"))


# ----------------------------------------------------------------------------------------- inputs
def _weights(r, I: int, H: int, dtype: torch.dtype) -> list[torch.Tensor]:
    return [0.5 * r(4 * H, I, dtype=dtype), 0.5 * r(4 * H, H, dtype=dtype), 0.5 * r(4 * H, dtype=dtype)]


def _forward(x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, W_ih, W_hh, b) -> list[dict]:
    """The package's forward over x (T, B, I): one cache (a dict of tensors) per step."""
    from lstm_course.numpy_cell import lstm_forward
    _, _, caches = lstm_forward(*(t.numpy() for t in (x, h0, c0, W_ih, W_hh, b)))
    return [{k: torch.from_numpy(np.ascontiguousarray(getattr(c, k))) for k in CACHE_FIELDS} for c in caches]


def make_inputs(gen: torch.Generator) -> dict[str, dict]:
    r = lambda *shape, dtype=torch.float64: torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
    steps = []
    for name, B, I, H, dtype, upstream, _ in STEP_CASES:
        if upstream == "hand":  # each gate is its bias: i = 0.75, f = 0.25, g = 0.5, o = 0.5; c_prev = 2
            x, h, c = torch.ones(1, 1, dtype=dtype), torch.zeros(1, 1, dtype=dtype), torch.full((1, 1), 2.0, dtype=dtype)
            W_ih, W_hh = torch.zeros(4, 1, dtype=dtype), torch.zeros(4, 1, dtype=dtype)
            b = torch.tensor([math.log(3), -math.log(3), math.atanh(0.5), 0.0], dtype=dtype)
            dh, dc = torch.ones(1, 1, dtype=dtype), torch.full((1, 1), 0.5, dtype=dtype)
        else:
            x, h, c = r(B, I, dtype=dtype), 0.5 * r(B, H, dtype=dtype), 0.5 * r(B, H, dtype=dtype)
            W_ih, W_hh, b = _weights(r, I, H, dtype)
            dh = r(B, H, dtype=dtype) if upstream != "dc" else torch.zeros(B, H, dtype=dtype)
            dc = r(B, H, dtype=dtype) if upstream != "dh" else torch.zeros(B, H, dtype=dtype)
            if upstream == "bad dh":
                dh = dh[0].clone()  # (H,): broadcasts silently unless checked
            elif upstream == "bad dc":
                dc = dc[:1].clone()  # (1, H)
        cache = _forward(x[None], h, c, W_ih, W_hh, b)[0]
        steps.append(dict(cache=cache, dh=dh, dc=dc, W_ih=W_ih, W_hh=W_hh))
    seqs = []
    for name, T, B, I, H, dtype, given, shape, _ in SEQ_CASES:
        x, h0, c0 = r(T, B, I, dtype=dtype), 0.5 * r(B, H, dtype=dtype), 0.5 * r(B, H, dtype=dtype)
        W_ih, W_hh, b = _weights(r, I, H, dtype)
        dhs = r(T, B, H, dtype=dtype)
        if shape == "last":
            dhs[:-1] = 0.0  # the loss reads h_T alone: every earlier step's dh comes from the step after it
        elif shape == "short":
            dhs = dhs[1:].clone()
        seqs.append(dict(caches=_forward(x, h0, c0, W_ih, W_hh, b), dhs=dhs, W_ih=W_ih, W_hh=W_hh,
                         dc_T=r(B, H, dtype=dtype) if given else None))
    return {"lstm_step_backward": {"cases": steps}, "lstm_backward": {"cases": seqs}}


# ------------------------------------------------------------------------------ judge side: the verdict
def verdict(function: str, inputs: dict, results: dict) -> list[tuple[str, str]]:
    """[(cell, message)] for every check that failed; cell is "visible" or "hidden"."""
    failures = []
    cases = results.get("cases") if isinstance(results, dict) else None
    if not isinstance(cases, list) or len(cases) != len(inputs["cases"]):
        raise ProbeError("the results do not hold one entry per case")
    table = STEP_CASES if function == "lstm_step_backward" else SEQ_CASES
    for spec, case, got in zip(table, inputs["cases"], cases):
        name, group = spec[0], spec[-1]
        try:
            if not isinstance(got, dict):
                raise AssertionError("no result")
            globals()[f"_judge_{function}"](spec, case, got)
        except (AssertionError, ProbeError, KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
            failures.append((group, f"{function}, {name}: {err}"))
    return failures


def _raises_value_error(got: dict, what: str) -> None:
    if got.get("status") != "error":
        raise AssertionError(f"{what} must raise ValueError (NumPy would broadcast it silently), it returned")
    if not str(got.get("result", "")).startswith("ValueError"):
        raise AssertionError(f"{what} must raise ValueError, got {got.get('result')}")


def _ok(got: dict, container: str) -> dict:
    if got.get("status") != "ok":
        raise AssertionError(f"raised {got.get('result')}")
    fields = got.get("result")
    if not isinstance(fields, dict):
        raise AssertionError(f"must return a {container}")
    missing = [k for k, v in fields.items() if isinstance(v, str) and v.startswith("<no attribute")]
    if missing:
        raise AssertionError(f"must return a {container}, got a {got.get('type')} without {', '.join(missing)}")
    return fields


def _unchanged(after: dict, before: dict) -> None:
    changed = [k for k, v in before.items() if not (type(after.get(k)) is torch.Tensor and torch.equal(after[k], v))]
    if changed:
        raise AssertionError(f"modified its input {', '.join(changed)} in place (+=, *=, out=): compute new arrays")


def _shape_hint(name: str, got: tuple, expected: tuple) -> str:
    if len(got) == 2 and got == expected[::-1]:
        return " (transposed: the weight gradient has the weight's shape (4H, ·), da^T times the input)"
    if name == "db" and len(got) == 2 and got[1:] == expected:
        return " (sum over the rows of the batch: the bias is added to every row)"
    return ""


def _close(name: str, value, expected: np.ndarray, extra: str = "") -> torch.Tensor:
    expected_t = torch.from_numpy(np.ascontiguousarray(expected))
    actual = tensor(value, f"{name}: expected a NumPy array")
    if tuple(actual.shape) != tuple(expected_t.shape):
        raise AssertionError(f"{name}: expected shape {tuple(expected_t.shape)}, got {tuple(actual.shape)}"
                             + _shape_hint(name, tuple(actual.shape), tuple(expected_t.shape)))
    if actual.dtype != expected_t.dtype:
        raise AssertionError(f"{name}: expected dtype {expected_t.dtype} (the inputs' dtype), got {actual.dtype}")
    if not torch.allclose(actual, expected_t, **TOL[expected_t.dtype]):
        raise AssertionError(f"{name} differs from the reference by up to "
                             f"{(actual - expected_t).abs().max().item():.3g}{extra}")
    return actual


def _gate_blocks(actual, expected: np.ndarray, dtype: torch.dtype) -> str:
    """Which gates' rows of db are wrong, when db has the right shape."""
    if type(actual) is not torch.Tensor or tuple(actual.shape) != expected.shape or actual.dtype != dtype:
        return ""
    H = expected.shape[0] // 4
    exp = torch.from_numpy(expected)
    wrong = [GATE_ROWS[k] for k in range(4)
             if not torch.allclose(actual[k * H:(k + 1) * H], exp[k * H:(k + 1) * H], **TOL[dtype])]
    return f" (wrong in the rows of gate {', '.join(wrong)})" if wrong and len(wrong) < 4 else ""


def _judge_lstm_step_backward(spec: tuple, case: dict, got: dict) -> None:
    from lstm_course.numpy_cell import StepCache, lstm_step_backward
    upstream = spec[5]
    if upstream.startswith("bad"):
        shape = tuple(case[upstream[-2:]].shape)
        _raises_value_error(got, f"an upstream {upstream[-2:]} of shape {shape}")
        return
    fields = _ok(got, "StepGrads(dx, dh_prev, dc_prev, dW_ih, dW_hh, db)")
    cache = StepCache(**{k: v.numpy() for k, v in case["cache"].items()})
    ref = lstm_step_backward(case["dh"].numpy(), case["dc"].numpy(), cache, case["W_ih"].numpy(), case["W_hh"].numpy())
    dtype = case["dh"].dtype
    _unchanged(got.get("after", {}), {**{k: case[k] for k in ("dh", "dc", "W_ih", "W_hh")},
                                      **{f"cache.{k}": v for k, v in case["cache"].items()}})
    without_f = ref.dc_prev / cache.f  # the total gradient at c, before the forget gate scales it
    value = fields["dc_prev"]
    if (type(value) is torch.Tensor and tuple(value.shape) == without_f.shape and value.dtype == dtype
            and torch.allclose(value, torch.from_numpy(without_f), **TOL[dtype])
            and not np.allclose(without_f, ref.dc_prev)):
        raise AssertionError("dc_prev is the gradient at c itself: it must be multiplied by f "
                             "(c = f * c_prev + i * g)")
    _close("db", fields["db"], ref.db, _gate_blocks(fields["db"], ref.db, dtype))
    for name in ("dc_prev", "dx", "dh_prev", "dW_ih", "dW_hh"):
        _close(name, fields[name], getattr(ref, name))


def _judge_lstm_backward(spec: tuple, case: dict, got: dict) -> None:
    from lstm_course.numpy_cell import StepCache, lstm_backward
    if spec[7] == "short":
        _raises_value_error(got, f"dhs of shape {tuple(case['dhs'].shape)} for {len(case['caches'])} caches")
        return
    fields = _ok(got, "SequenceGrads(dx, dh0, dc0, dW_ih, dW_hh, db)")
    caches = [StepCache(**{k: v.numpy() for k, v in c.items()}) for c in case["caches"]]
    dc_T = None if case["dc_T"] is None else case["dc_T"].numpy()
    _unchanged(got.get("after", {}), {k: case[k] for k in ("dhs", "W_ih", "W_hh", "dc_T") if case[k] is not None})
    args = (case["dhs"].numpy(), caches, case["W_ih"].numpy(), case["W_hh"].numpy(), dc_T)
    replay = lstm_backward(*args, step_backward=standin_step)  # the loop as it ran, with the grader's stand-in step
    try:
        for name in SEQ_FIELDS:
            _close(name, fields[name], getattr(replay, name))
    except AssertionError as stand_in:
        ref = lstm_backward(*args)  # or a loop that does the step's work itself
        try:
            for name in SEQ_FIELDS:
                _close(name, fields[name], getattr(ref, name))
        except AssertionError:
            raise AssertionError(f"{stand_in} (while the grader ran lstm_backward, lstm_step_backward was a stand-in "
                                 f"of its own, so this is the loop's mistake: the order of the steps, dhs[t] plus "
                                 f"the dh_prev from the step after, dc carried from step to step, the sums)") from None
