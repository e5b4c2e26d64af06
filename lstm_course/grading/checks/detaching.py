"""The judge's checks for ``detaching``: ``detach_state``, ``batchify``, ``train_tbptt``.

``train_tbptt`` is replayed here with the reference algorithm on the same initial weights, streams and optimizer
settings; the student's run must give the same epoch loss (a Python float) and the same trained parameters.
See ``checks/__init__.py`` for the three roles (inputs, probe, verdict).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..probe_runner import LR, V, TinyLM, _structure
from ..protocol import ProbeError, tensor

FUNCTIONS = ("detach_state", "batchify", "train_tbptt")
NO_PYTORCH_LSTM = ()
DETACH_CASES = (("a tuple (h, c)", "tuple", "visible"), ("a tensor", "tensor", "visible"), ("None", "none", "visible"),
                ("a list holding a tuple", "nested", "hidden"))
BATCH_CASES = (("23 tokens, batch_size 4", 23, 4, "visible"), ("rows too short (L = 1)", 10, 6, "visible"),
               ("10 tokens, batch_size 5", 10, 5, "hidden"), ("batch_size 1", 7, 1, "hidden"),
               ("batch_size 0", 10, 0, "hidden"))
TRAIN_CASES = (("chunks of 4, 4 and 3 steps, no clip", 3, 12, 4, None, "visible"),
               ("clip 0.05", 2, 10, 3, 0.05, "visible"), ("one chunk longer than the data", 2, 5, 8, 0.5, "hidden"))
def make_inputs(gen: torch.Generator) -> dict[str, dict]:
    detach = [dict(kind=kind, values=torch.randn(4, 3, 2, generator=gen, dtype=torch.float64)) for _, kind, _ in DETACH_CASES]
    batch = [dict(tokens=torch.randint(0, 50, (n,), generator=gen), batch_size=b) for _, n, b, _ in BATCH_CASES]
    train = []
    for _, B, L, bptt, clip, _ in TRAIN_CASES:
        shapes = {k: tuple(v.shape) for k, v in TinyLM().state_dict().items()}
        train.append(dict(params={k: 0.5 * torch.randn(*s, generator=gen, dtype=torch.float64) for k, s in shapes.items()},
                          streams=torch.randint(0, V, (B, L), generator=gen), bptt=bptt, clip=clip))
    return {"detach_state": {"cases": detach}, "batchify": {"cases": batch}, "train_tbptt": {"cases": train}}


# ------------------------------------------------------------------------------ judge side: the verdict
def verdict(function: str, inputs: dict, results: dict) -> list[tuple[str, str]]:
    cases = results.get("cases") if isinstance(results, dict) else None
    if not isinstance(cases, list) or len(cases) != len(inputs["cases"]):
        raise ProbeError("the results do not hold one entry per case")
    table = dict(detach_state=DETACH_CASES, batchify=BATCH_CASES, train_tbptt=TRAIN_CASES)[function]
    failures = []
    for spec, case, got in zip(table, inputs["cases"], cases):
        try:
            globals()[f"_judge_{function}"](case, got)
        except (AssertionError, ProbeError, KeyError, TypeError, ValueError, IndexError, RuntimeError) as err:
            failures.append((spec[-1], f"{function}, {spec[0]}: {err}"))
    return failures


def _ok(got: dict) -> None:
    if got.get("status") != "ok":
        raise AssertionError(f"raised {got.get('result')}")


def _same(desc, expected, where: str) -> None:
    if expected is None:
        if desc is not None:
            raise AssertionError(f"{where}: None must come back as None, got {desc!r:.60}")
    elif type(expected) is torch.Tensor:
        if not (isinstance(desc, dict) and "tensor" in desc):
            raise AssertionError(f"{where}: expected a tensor, got {desc!r:.60}")
        if not torch.equal(tensor(desc["tensor"], where), expected):
            raise AssertionError(f"{where}: the values changed")
        if desc.get("requires_grad") or desc.get("grad_fn"):
            raise AssertionError(f"{where}: still attached to the autograd graph (use .detach())")
    else:
        kind = type(expected).__name__
        if not (isinstance(desc, dict) and desc.get("container") == kind and len(desc.get("items", [])) == len(expected)):
            raise AssertionError(f"{where}: a {kind} of {len(expected)} must come back as a {kind} of {len(expected)}, "
                                 f"got {desc!r:.80}")
        for k, (d, e) in enumerate(zip(desc["items"], expected)):
            _same(d, e, f"{where}[{k}]")


def _judge_detach_state(case: dict, got: dict) -> None:
    _ok(got)
    _same(got["result"], _structure(case["kind"], [v * 2 for v in case["values"]]), "the result")
    if not all(got.get("caller_attached", [])) or len(got.get("caller_attached", [])) != len(case["values"]):
        raise AssertionError("the caller's tensors were detached in place (detach_()): return new tensors")


def _judge_batchify(case: dict, got: dict) -> None:
    tokens, b = case["tokens"], case["batch_size"]
    L = len(tokens) // b if b >= 1 else 0
    if b < 1 or L < 2:
        if got.get("status") != "error" or not str(got.get("result", "")).startswith("ValueError"):
            raise AssertionError(f"must raise ValueError, got {got.get('result')!r:.80}")
        return
    _ok(got)
    out = tensor(got["result"], "the result")
    expected = tokens[:b * L].reshape(b, L)
    if out.shape != expected.shape or out.dtype != expected.dtype or not torch.equal(out, expected):
        raise AssertionError(f"expected rows tokens[b*L:(b+1)*L] in a ({b}, {L}) LongTensor, got shape "
                             f"{tuple(out.shape)}")
    if got.get("device_ok") is not True or not torch.equal(tensor(got["tokens_after"], "tokens"), tokens):
        raise AssertionError("the result must be on the tokens' device, and the tokens unchanged")


def reference_train(case: dict) -> tuple[float, dict]:
    """The reference epoch on the judge's own copy of the inputs: (mean loss per token, trained parameters)."""
    torch.manual_seed(0)
    model = TinyLM().double()
    model.load_state_dict(case["params"])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    streams, bptt, clip = case["streams"], case["bptt"], case["clip"]
    state, total, count = None, 0.0, 0
    for i in range(0, streams.shape[1] - 1, bptt):
        n = min(bptt, streams.shape[1] - 1 - i)
        x, y = streams[:, i:i + n], streams[:, i + 1:i + 1 + n]
        state = None if state is None else tuple(s.detach() for s in state)
        logits, state = model(x, state)  # (B, n, V)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * y.numel()
        count += y.numel()
    return total / count, {k: v.detach() for k, v in model.state_dict().items()}


def _judge_train_tbptt(case: dict, got: dict) -> None:
    _ok(got)
    loss, params = reference_train(case)
    if type(got["result"]) is not float:
        raise AssertionError(f"must return the mean loss as a Python float (loss.item()), got {got['result']!r:.60}")
    if abs(got["result"] - loss) > 1e-7 * max(1.0, abs(loss)):
        raise AssertionError(f"returned {got['result']:.6f}, the epoch's mean loss per predicted token is {loss:.6f}")
    theirs = got.get("params")
    if not isinstance(theirs, dict) or set(theirs) != set(params):
        raise AssertionError("the model's parameters are missing")
    for name, p in params.items():
        t = tensor(theirs[name], name)
        if t.shape != p.shape or not torch.allclose(t, p, rtol=1e-6, atol=1e-9):
            raise AssertionError(f"after the epoch, {name} differs from the reference training's by up to "
                                 f"{(t - p).abs().max().item() if t.shape == p.shape else float('nan'):.3g} "
                                 f"(detach, zero_grad, backward, clip_grad_norm_, step: in that order, each chunk)")
