"""The judge's checks for ``temperature``: ``sample_next`` and ``generate``.

``sample_next``: the probe returns the draws; the judge computes each configuration's exact distribution itself and
tests the draws' frequencies against it (a token of probability 0 must never appear; the others within 5.5 standard
errors, so a correct sampler fails by chance about once in 10^6 notebooks). ``generate``: the probe runs it on a
counting model with a deterministic stand-in for ``sample_next`` whose choice encodes the options and the generator
it received, so the returned ids alone show whether the prompt was read once, the state carried, no graph built
and every option passed on; the judge replays the reference on the same model and compares the ids.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..probe_runner import BAD_ARGS, GEN_V, N_DRAWS as N, ClockLM, generate_args, standin_sample as stand_in
from ..protocol import ProbeError, tensor

FUNCTIONS = ("sample_next", "generate")
NO_PYTORCH_LSTM = ()
Z = 5.5
LOG = lambda p: [math.log(v) if v > 0 else float("-inf") for v in p]  # noqa: E731
# name, logits rows (one or two, alternating over the N draws), options, cell
SAMPLE_CASES = (
    ("temperature 0.5", [[2.0, 1.0, 0.5, 0.0, -1.0]], dict(temperature=0.5), "visible"),
    ("top_k=2 with a tie at the 2nd value", [[2.0, 1.0, 1.0, 0.0, -1.0]], dict(top_k=2), "visible"),
    ("top_k=2", [[3.0, 2.0, 1.0, -1.0, -2.0]], dict(top_k=2), "visible"),
    ("top_p=0.7 (the crossing token stays)", [LOG([0.5, 0.3, 0.15, 0.05])], dict(top_p=0.7), "visible"),
    ("temperature 0.5 then top_p=0.8", [LOG([0.4, 0.3, 0.2, 0.1])], dict(temperature=0.5, top_p=0.8), "hidden"),
    ("top_k=3 then top_p=0.75", [LOG([0.35, 0.3, 0.2, 0.15])], dict(top_k=3, top_p=0.75), "hidden"),
    ("two rows, top_k=3, top_p=0.75", [LOG([0.35, 0.3, 0.2, 0.15]), LOG([0.15, 0.2, 0.3, 0.35])],
     dict(top_k=3, top_p=0.75), "hidden"),
    ("-inf logits, temperature 5, top_p=1", [[float("-inf"), 0.0, float("-inf"), 1.0, float("-inf")]],
     dict(temperature=5.0, top_p=1.0), "hidden"),
    ("top_k=8 > V=5, temperature 0.3", [[float("-inf"), 0.0, float("-inf"), 1.0, 0.5]], dict(temperature=0.3, top_k=8),
     "hidden"),
)
GEN_CASES = (("list prompt, all options and a generator", [3, 1, 4], 6, dict(temperature=0.7, top_k=3, top_p=0.9), True,
              "visible"),
             ("tensor prompt, defaults", "tensor:2,7", 5, {}, False, "visible"),
             ("length 0", [5], 0, {}, False, "visible"),
             ("empty prompt", [], 3, {}, False, "visible"),
             ("top_p alone", [2, 5, 1], 4, dict(top_p=0.5), False, "hidden"),
             ("top_k alone", [2, 5, 1], 4, dict(top_k=2), False, "hidden"),
             ("temperature 0", [2, 5, 1], 4, dict(temperature=0.0), False, "hidden"),
             ("a generator alone", [9], 5, {}, True, "hidden"),
             ("one token from a one-token prompt", [4], 1, {}, False, "hidden"))


def make_inputs(gen: torch.Generator) -> dict[str, dict]:
    cases = []
    for _, rows, options, _ in SAMPLE_CASES:
        perm = torch.randperm(len(rows[0]), generator=gen)  # the grader's token order: unknown in advance
        cases.append(dict(rows=torch.tensor(rows, dtype=torch.float64)[:, perm], options=options,
                          seed=int(torch.randint(0, 2**31, (), generator=gen))))
    extra = dict(logits=torch.randn(7, generator=gen, dtype=torch.float64), seed=int(torch.randint(0, 2**31, (), generator=gen)))
    gens = [dict(seed=int(torch.randint(0, 2**31, (), generator=gen)), offset=int(torch.randint(0, GEN_V, (), generator=gen)))
            for _ in GEN_CASES]
    return {"sample_next": {"cases": cases, "extra": extra}, "generate": {"cases": gens, "specs": list(GEN_CASES)}}


# ------------------------------------------------------------------------------ judge side: the verdict
def reference_probs(rows: torch.Tensor, temperature=1.0, top_k=None, top_p=None) -> torch.Tensor:
    """The exact distribution of each row after temperature, top-k (ties kept) and top-p (crossing token kept)."""
    logits = rows / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.sort(dim=-1, descending=True).values[:, top_k - 1:top_k]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None:
        order = probs.sort(dim=-1, descending=True)
        drop = (order.values.cumsum(-1) - order.values) >= top_p
        probs = probs.masked_fill(torch.zeros_like(drop).scatter(-1, order.indices, drop), 0.0)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def _frequencies_match(draws: torch.Tensor, probs: torch.Tensor) -> str:
    """"" when the draws fit the distribution of each row (rows alternate), else what does not fit."""
    R, Vn = probs.shape
    for r in range(R):
        mine = draws[r::R].long()
        if int(mine.min()) < 0 or int(mine.max()) >= Vn:
            return f"ids outside [0, {Vn})"
        freq = torch.bincount(mine, minlength=Vn).double() / len(mine)
        p = probs[r]
        se = (p * (1 - p) / len(mine)).sqrt()
        if bool(((p == 0) & (freq > 0)).any()) or bool(((freq - p).abs() > Z * se + 1e-12).any()):
            return (f"row {r}: expected frequencies {[round(v, 3) for v in p.tolist()]}, got "
                    f"{[round(v, 3) for v in freq.tolist()]}")
    return ""


def verdict(function: str, inputs: dict, results: dict) -> list[tuple[str, str]]:
    if not isinstance(results, dict) or not isinstance(results.get("cases"), list) or \
            len(results["cases"]) != len(inputs["cases"]):
        raise ProbeError("the results do not hold one entry per case")
    return (_judge_sample_next if function == "sample_next" else _judge_generate)(inputs, results)


def _judge_sample_next(inputs: dict, results: dict) -> list[tuple[str, str]]:
    failures = []
    for spec, case, got in zip(SAMPLE_CASES, inputs["cases"], results["cases"]):
        name, group = spec[0], spec[-1]
        try:
            if got.get("status") != "ok":
                raise AssertionError(f"raised {got.get('result')}")
            draws = tensor(got["result"], "the result")
            if got.get("dtype") != "torch.int64" or tuple(draws.shape) != (N,) or got.get("device_ok") is not True:
                raise AssertionError(f"(N, V) logits must give an (N,) LongTensor on their device, got "
                                     f"{got.get('dtype')} of shape {tuple(draws.shape)}")
            if not got.get("unchanged"):
                raise AssertionError("changed the caller's logits in place")
            why = _frequencies_match(draws, reference_probs(case["rows"], **case["options"]))
            if why:
                raise AssertionError(why)
        except (AssertionError, ProbeError, KeyError, TypeError, ValueError, RuntimeError) as err:
            failures.append((group, f"sample_next, {name}: {err}"))
    try:
        a, b = (tensor(d, "a draw") for d in results["draws"])
        if a.dim() != 0 or not torch.equal(a, b):
            raise AssertionError("(V,) logits must give a 0-d id, and the same seeded generator the same id "
                                 "(take all randomness from generator)")
    except (AssertionError, ProbeError, KeyError, TypeError, ValueError) as err:
        failures.append(("visible", f"sample_next, seeded generator: {err}"))
    try:  # 64 draws: a sampler that takes any randomness from torch's global generator differs between the calls
        a, b = (tensor(d, "64 draws") for d in results["batches"])
        if tuple(a.shape) != (64,) or not torch.equal(a, b):
            raise AssertionError("the same seeded generator must give the same ids, whatever torch's global seed: "
                                 "take all randomness from generator (pass generator=generator to torch.multinomial)")
    except (AssertionError, ProbeError, KeyError, TypeError, ValueError) as err:
        failures.append(("visible", f"sample_next, seeded generator: {err}"))
    greedy = results.get("greedy")
    if type(greedy) is not torch.Tensor or greedy.tolist() != [int(inputs["extra"]["logits"].argmax())]:
        failures.append(("visible", f"sample_next, temperature 0: expected the argmax, got {greedy!r:.60}"))
    for kwargs, err in zip(BAD_ARGS, results.get("errors", [])):
        if not str(err).startswith("ValueError"):
            failures.append(("visible", f"sample_next with {kwargs} must raise ValueError, got: {err!r:.80}"))
    if len(results.get("errors", [])) != len(BAD_ARGS):
        failures.append(("visible", "sample_next: the argument checks were not all run"))
    return failures


def reference_generate(model, prompt, length, temperature=1.0, top_k=None, top_p=None, generator=None, sample=None):
    ids = torch.as_tensor(prompt, dtype=torch.long)
    new = []
    with torch.no_grad():
        logits, state = model(ids[None], None)
        for _ in range(length):
            new.append(sample(logits[0, -1], temperature, top_k, top_p, generator))
            logits, state = model(new[-1].reshape(1, 1), state)
    return torch.stack(new) if new else torch.empty(0, dtype=torch.long)


def _judge_generate(inputs: dict, results: dict) -> list[tuple[str, str]]:
    failures = []
    for spec, case, got in zip(GEN_CASES, inputs["cases"], results["cases"]):
        name, group = spec[0], spec[-1]
        try:
            args, kwargs = generate_args(spec, case)
            if len(args[0]) == 0:
                if got.get("status") != "error" or not str(got.get("result")).startswith("ValueError"):
                    raise AssertionError(f"an empty prompt must raise ValueError, got {got.get('result')!r:.60}")
                continue
            if got.get("status") != "ok":
                raise AssertionError(f"raised {got.get('result')}")
            want = reference_generate(ClockLM(), *args, **kwargs, sample=stand_in(case["offset"]))
            ids = tensor(got["result"], "the result")
            if ids.dtype != torch.long or tuple(ids.shape) != tuple(want.shape) or got.get("device_ok") is not True:
                raise AssertionError(f"expected the {len(want)} new ids as a ({len(want)},) LongTensor on the model's "
                                     f"device, got {ids.dtype} of shape {tuple(ids.shape)}")
            if not torch.equal(ids, want):
                raise AssertionError(f"expected ids {want.tolist()}, got {ids.tolist()}: read the prompt once, then feed "
                                     f"each new token with the carried state, under torch.no_grad(), and pass temperature, "
                                     f"top_k, top_p and generator on to sample_next")
        except (AssertionError, ProbeError, KeyError, TypeError, ValueError, RuntimeError) as err:
            failures.append((group, f"generate, {name}: {err}"))
    return failures
