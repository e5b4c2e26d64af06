"""The probe side of the verdict: a standalone program that runs a student's functions on the judge's inputs.

The judge (``judge.py``, in nbgrader's process) copies this one file into a private folder and runs it as
``python -I probe_runner.py`` in a fresh process confined by ``confine.py``: no course package (``lstm_course``
cannot be imported there), no ``solutions/``, no other student. So this file imports nothing but the standard
library, torch and NumPy, and holds **no reference answer**: inputs in, results out.

1. It reads everything from standard input before any student code runs: the notebook's name, a secret key, the
   cells to run, the inputs (a ``torch.save`` archive, loaded with ``weights_only=True``).
2. It runs the locked setup cell(s) and the student's own cells written before the tests (never a test cell:
   nothing a test cell defines exists here), each on its own: a cell that raises is recorded and the next one
   still runs. IPython magics and shell escapes become ``pass``. What student code prints goes to standard error.
3. For each graded function it calls the function on the inputs while PyTorch's profiler records every operator
   dispatched (below the Python level). The results, the operators that reveal PyTorch's LSTM or autograd, and
   whether the recorder ran the whole time go back as data, one line per function on the original standard
   output, signed with the key (HMAC-SHA256), so that student code cannot forge or add a line. Before each cell
   and each function a signed progress line says what starts: when the process dies (``os._exit``, a crash, a
   hang past the time limit), the judge knows which cell or function did it, and starts it again without it.

Where a graded function builds on another (``lstm_layer`` on ``lstm_cell``, ``lstm_backward`` on
``lstm_step_backward``, ``train_tbptt`` on ``detach_state``, ``generate`` on ``sample_next``), the other one is
replaced, while it runs, by a **stand-in** defined here that is not an LSTM (``standin_cell``, ``standin_step``)
or not a complete answer (``standin_detach``), and that the judge replays: a mistake in the inner function costs
its own points only, and the stand-in gives nothing a student could call as an answer.
"""
from __future__ import annotations

import base64
import hmac
import io
import linecache
import math
import os
import re
import signal
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MARKER = "LSTM-COURSE-PROBE"
# operator names that show PyTorch's own LSTM, and autograd (reverse mode through the engine, forward-mode duals)
LSTM_OPS = re.compile(r"lstm|cudnn_rnn|miopen_rnn|mkldnn_rnn", re.I)
AUTOGRAD_OPS = re.compile(r"^autograd::engine::evaluate_function|_make_dual|_unpack_dual|_fw_primal")


class ProbeTimeout(BaseException):
    """A cell or a function ran past its time limit (a BaseException, so a plain ``except Exception`` lets it by)."""


# ------------------------------------------------------------------------------------------------ data
def plain(value):
    """A returned value as data: a plain tensor (detached, on the CPU), a number, or a description of it."""
    if type(value) is torch.Tensor:
        return value.detach().to("cpu", copy=True)
    if type(value) in (int, float, bool, str) or value is None:
        return value
    if type(value) in (tuple, list):
        return {"container": type(value).__name__, "items": [plain(v) for v in value]}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def attempt(fn, *args, **kwargs):
    """("ok", result) or ("error", "ExceptionType: message"); a time-out is not caught."""
    try:
        return "ok", fn(*args, **kwargs)
    except ProbeTimeout:
        raise
    except BaseException as err:  # noqa: BLE001 -- a student's function can raise anything, SystemExit too
        if isinstance(err, KeyboardInterrupt):
            raise
        return "error", f"{type(err).__name__}: {str(err)[:300]}"


def _tensors(value) -> list:
    if type(value) is torch.Tensor:
        return [value]
    return [t for v in value for t in _tensors(v)] if type(value) in (tuple, list) else []


# ------------------------------------------------------------------------------------ stand-ins, models
def standin_cell(x, state, W_ih, W_hh, b_ih, b_hh):
    """Not an LSTM: a fixed, smooth function of every argument, with lstm_cell's shapes ((B, H), (B, H))."""
    h, c = state
    H = h.shape[1]
    z = x @ W_ih.T + h @ W_hh.T + b_ih + 2 * b_hh  # (B, 4H)
    c_new = 0.5 * c + 0.25 * z[:, :H] - 0.125 * z[:, 2 * H:3 * H]
    h_new = torch.sin(c_new + z[:, H:2 * H]) + 0.0625 * z[:, 3 * H:]
    return h_new, c_new


class StepCache(types.SimpleNamespace):
    """The forward pass's cache of one step, as the backward notebook's lstm_step_backward reads it."""


def standin_step(dh, dc, cache, W_ih, W_hh, grads_type=None):
    """Not an LSTM's backward: fixed functions of every argument, with lstm_step_backward's shapes."""
    H = dh.shape[1]
    u = 0.5 * dh - 0.25 * dc  # (B, H)
    fields = dict(dx=u @ W_ih[:H] + 0.125 * cache.x, dh_prev=0.75 * dh + 0.5 * dc * cache.o + u @ W_hh[H:2 * H],
                  dc_prev=0.5 * dc + 0.25 * dh * cache.c_prev,
                  dW_ih=np.concatenate([k * (u.T @ cache.x) for k in (1, 2, 3, 4)], axis=0),
                  dW_hh=np.concatenate([k * (dh.T @ cache.h_prev) for k in (1, -1, 2, -2)], axis=0),
                  db=np.concatenate([u.sum(axis=0), dc.sum(axis=0), dh.sum(axis=0), -u.sum(axis=0)]))
    return (grads_type or types.SimpleNamespace)(**fields)


def standin_detach(state):
    """Detaches the (h, c) state an LSTM returns (what train_tbptt hands it); not a whole detach_state."""
    if state is None:
        return None
    if type(state) is tuple and all(type(t) is torch.Tensor for t in state):
        return tuple(t.detach() for t in state)
    raise TypeError(f"the grader's stand-in detach_state takes None or a tuple of tensors, got {type(state).__name__}")


V, E, H_TINY, LR = 6, 4, 5, 0.5  # detaching's tiny model and its learning rate


class TinyLM(nn.Module):
    """model(x (B, T), state) -> (logits (B, T, V), state): the model trained in the probe and in the replay."""

    def __init__(self):
        super().__init__()
        self.embed, self.lstm, self.head = nn.Embedding(V, E), nn.LSTM(E, H_TINY, batch_first=True), nn.Linear(H_TINY, V)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


GEN_V = 11  # temperature's toy vocabulary


class ClockLM(nn.Module):
    """Favourite next token = (x + 2 * tokens read so far + 3 * calls so far + 5 * grad mode) % V, from its state."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, x, state=None):
        if state is None:
            state = (torch.zeros(x.shape[0], 1, dtype=torch.long, device=x.device),) * 2
        read = state[0] + torch.arange(1, x.shape[1] + 1, device=x.device)  # (B, T)
        calls = state[1] + 1
        favourite = (x + 2 * read + 3 * calls + 5 * int(torch.is_grad_enabled())) % GEN_V
        return 10.0 * F.one_hot(favourite, GEN_V).to(self.anchor.dtype) + self.anchor, (read[:, -1:], calls)


def standin_sample(offset: int):
    """A deterministic sample_next whose choice shows the options and the generator it was given."""
    def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        code = offset + round(float(temperature) * 100) * 7 + (top_k or 0) * 3 + round(float(top_p or 0) * 100) * 5
        code += int(torch.randint(0, GEN_V, (), generator=generator)) if generator is not None else 1
        return (logits.argmax(dim=-1) + code) % GEN_V
    return sample_next


class _Swap:
    """``ns[name]`` replaced by ``value`` while the block runs."""

    def __init__(self, ns: dict, name: str, value):
        self.ns, self.name, self.value = ns, name, value

    def __enter__(self):
        self.old = self.ns.get(self.name)
        self.ns[self.name] = self.value

    def __exit__(self, *exc):
        self.ns[self.name] = self.old


# ------------------------------------------------------------------------------------------------ gates
def _run_lstm_cell(ns: dict, case: dict, device) -> dict:
    args = [a.to(device).requires_grad_(case["grad"]) for a in case["args"]]
    x, h, c, W_ih, W_hh, b_ih, b_hh = args
    status, result = attempt(ns["lstm_cell"], x, (h, c), W_ih, W_hh, b_ih, b_hh)
    out = {"status": status, "result": plain(result) if status == "ok" else result,
           "after": [plain(a) for a in args], "device_ok": None, "requires_grad": None, "grads": None}
    if status == "ok" and type(result) is tuple and len(result) == 2 and all(type(t) is torch.Tensor for t in result):
        out["device_ok"] = all(t.device == x.device for t in result)
        out["requires_grad"] = [bool(t.requires_grad) for t in result]
        if case["grad"] and all(out["requires_grad"]):
            gh, gc = (w.to(device) for w in case["weights"])
            ok, grads = attempt(torch.autograd.grad, (result[0] * gh).sum() + (result[1] * gc).sum(), args,
                                allow_unused=True)
            out["grads"] = [plain(g) for g in grads] if ok == "ok" else grads
    return out


def _run_lstm_layer(ns: dict, case: dict, device) -> dict:
    x = case["x"].to(device)
    state = None if case["state"] is None else tuple(s.to(device) for s in case["state"])
    weights = [w.to(device) for w in case["weights"]]
    with _Swap(ns, "lstm_cell", standin_cell):
        status, result = attempt(ns["lstm_layer"], x, state, *weights)
    inputs = [x, *(state or ()), *weights]
    devices = [t.device == x.device for t in _tensors(result)] if status == "ok" else []
    return {"status": status, "result": plain(result) if status == "ok" else result,
            "after": [plain(t) for t in inputs], "device_ok": bool(devices) and all(devices)}


def _run_init_forget_bias(ns: dict, case: dict, device) -> dict:
    module = getattr(nn, case["kind"])(**case["config"]).double()
    module.load_state_dict(case["params"])
    module.to(device)
    before = dict(module.named_parameters())
    args = (module,) if case["value"] is None else (module, case["value"])
    status, result = attempt(ns["init_forget_bias"], *args)
    after = dict(module.named_parameters())
    return {"status": status, "result": plain(result) if status == "ok" else result,
            "params": {k: plain(v.detach()) for k, v in after.items()},
            "same_objects": set(before) == set(after) and all(before[k] is after[k] for k in before)}


# --------------------------------------------------------------------------------------------- backward
def _array(t: torch.Tensor) -> np.ndarray:
    return t.numpy().copy()  # a fresh, writable array: what the student's code does with it stays here


def _as_data(value):
    """A returned array as a tensor (a copy); anything else as ``plain`` describes it."""
    if type(value) is np.ndarray:
        try:
            return torch.from_numpy(np.array(value, copy=True))
        except Exception as err:  # e.g. an object array
            return f"<numpy array of dtype {value.dtype}: {type(err).__name__}>"
    return plain(value)


def _fields(result, names: tuple) -> dict:
    out = {}
    for name in names:
        status, value = attempt(getattr, result, name)
        out[name] = _as_data(value) if status == "ok" else f"<no attribute {name}>"
    return out


STEP_FIELDS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")
SEQ_FIELDS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db")


def _cache(ns: dict, arrays: dict):
    """The notebook's own StepCache (a dataclass in its setup cell) when it takes these fields, else ours."""
    kind = ns.get("StepCache")
    try:
        return kind(**arrays)
    except Exception:
        return StepCache(**arrays)


def _run_lstm_step_backward(ns: dict, case: dict, device) -> dict:
    arrays = {k: _array(v) for k, v in case["cache"].items()}
    args = {k: _array(case[k]) for k in ("dh", "dc", "W_ih", "W_hh")}
    status, result = attempt(ns["lstm_step_backward"], args["dh"], args["dc"], _cache(ns, arrays), args["W_ih"],
                             args["W_hh"])
    after = {**args, **{f"cache.{k}": v for k, v in arrays.items()}}
    return {"status": status, "result": _fields(result, STEP_FIELDS) if status == "ok" else result,
            "type": type(result).__name__ if status == "ok" else None,
            "after": {k: torch.from_numpy(v.copy()) for k, v in after.items()}}


def _run_lstm_backward(ns: dict, case: dict, device) -> dict:
    caches = [_cache(ns, {k: _array(v) for k, v in c.items()}) for c in case["caches"]]
    dhs, W_ih, W_hh = _array(case["dhs"]), _array(case["W_ih"]), _array(case["W_hh"])
    dc_T = None if case["dc_T"] is None else _array(case["dc_T"])
    grads_type = ns.get("StepGrads") if isinstance(ns.get("StepGrads"), type) else None
    step = lambda dh, dc, cache, W_ih, W_hh: standin_step(dh, dc, cache, W_ih, W_hh, grads_type)  # noqa: E731
    with _Swap(ns, "lstm_step_backward", step):
        status, result = attempt(ns["lstm_backward"], dhs, caches, W_ih, W_hh, dc_T)
    after = {"dhs": dhs, "W_ih": W_ih, "W_hh": W_hh, **({} if dc_T is None else {"dc_T": dc_T})}
    return {"status": status, "result": _fields(result, SEQ_FIELDS) if status == "ok" else result,
            "type": type(result).__name__ if status == "ok" else None,
            "after": {k: torch.from_numpy(v.copy()) for k, v in after.items()}}


# -------------------------------------------------------------------------------------------- detaching
def _structure(kind: str, ts: list):
    return {"tuple": lambda: (ts[0], ts[1]), "tensor": lambda: ts[0], "none": lambda: None,
            "nested": lambda: [ts[0], (ts[1], ts[2])]}[kind]()


def _describe(value):
    if type(value) is torch.Tensor:
        return {"tensor": plain(value), "requires_grad": bool(value.requires_grad), "grad_fn": value.grad_fn is not None}
    if type(value) in (tuple, list):
        return {"container": type(value).__name__, "items": [_describe(v) for v in value]}
    return plain(value)


def _run_detach_state(ns: dict, case: dict, device) -> dict:
    leaves = [v.to(device).requires_grad_() for v in case["values"]]
    ts = [leaf * 2 for leaf in leaves]  # non-leaf tensors with a grad_fn, like an LSTM's state
    status, result = attempt(ns["detach_state"], _structure(case["kind"], ts))
    return {"status": status, "result": _describe(result) if status == "ok" else result,
            "caller_attached": [t.grad_fn is not None for t in ts]}


def _run_batchify(ns: dict, case: dict, device) -> dict:
    tokens = case["tokens"].to(device)
    status, result = attempt(ns["batchify"], tokens, case["batch_size"])
    return {"status": status, "result": plain(result) if status == "ok" else result,
            "device_ok": type(result) is torch.Tensor and result.device == tokens.device,
            "tokens_after": plain(tokens)}


def _run_train_tbptt(ns: dict, case: dict, device) -> dict:
    model = TinyLM().double()
    model.load_state_dict(case["params"])
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    kwargs = {} if case["clip"] is None else {"clip": case["clip"]}
    with _Swap(ns, "detach_state", standin_detach):
        status, result = attempt(ns["train_tbptt"], model, case["streams"].to(device), case["bptt"], optimizer, **kwargs)
    return {"status": status, "result": plain(result) if status == "ok" else result,
            "params": {k: plain(v.detach()) for k, v in model.state_dict().items()}}


# ------------------------------------------------------------------------------------------ temperature
N_DRAWS = 3000
BAD_ARGS = (dict(temperature=-0.5), dict(temperature=float("nan")), dict(temperature=float("inf")), dict(top_k=0),
            dict(top_p=0.0), dict(top_p=1.5), dict(top_p=float("nan")))


def _run_sample_next(ns: dict, inputs: dict, device) -> dict:
    sample = ns["sample_next"]
    out = []
    for case in inputs["cases"]:
        rows = case["rows"].to(device)
        logits = rows.repeat(N_DRAWS // rows.shape[0], 1)  # (N, V), the rows alternating
        before = logits.clone()
        status, result = attempt(sample, logits, generator=torch.Generator(device=device).manual_seed(case["seed"]),
                                 **case["options"])
        ok = status == "ok" and type(result) is torch.Tensor
        out.append({"status": status, "result": plain(result.to(torch.int16)) if ok and result.dtype == torch.long
                    else (plain(result) if status == "ok" else result),
                    "dtype": str(result.dtype) if ok else None, "device_ok": ok and result.device == logits.device,
                    "unchanged": bool(torch.equal(logits, before))})
    extra = inputs["extra"]
    logits = extra["logits"].to(device)  # (V,): a 0-d result; the same seed gives the same draws
    draws = []
    for k in range(2):
        torch.manual_seed(1000 + k)  # torch's global generator differs between the two calls
        status, result = attempt(sample, logits, 1.3, 4, 0.95, torch.Generator(device=device).manual_seed(extra["seed"]))
        draws.append(plain(result) if status == "ok" else result)
    rows = logits.repeat(64, 1)  # (64, V): two calls with one seed agree only if every draw comes from generator
    batches = []
    for k in range(2):
        torch.manual_seed(2000 + k)
        status, result = attempt(sample, rows, 1.3, None, None, torch.Generator(device=device).manual_seed(extra["seed"]))
        batches.append(plain(result) if status == "ok" else result)
    greedy = attempt(sample, logits[None], temperature=0.0, top_k=1, top_p=0.5)
    errors = []
    for kwargs in BAD_ARGS:
        status, result = attempt(sample, logits[None], **kwargs)
        errors.append(result if status == "error" else "returned without an error")
    return {"cases": out, "draws": draws, "batches": batches,
            "greedy": plain(greedy[1]) if greedy[0] == "ok" else greedy[1], "errors": errors}


def generate_args(spec: tuple, case: dict) -> tuple[list, dict]:
    _, prompt, length, options, with_generator, _ = spec
    if isinstance(prompt, str):
        prompt = torch.tensor([int(v) for v in prompt.split(":")[1].split(",")])  # on the CPU: generate moves it
    kwargs = dict(options)
    if with_generator:
        kwargs["generator"] = torch.Generator().manual_seed(case["seed"])
    return [prompt, length], kwargs


def _run_generate(ns: dict, inputs: dict, device) -> dict:
    out = []
    for spec, case in zip(inputs["specs"], inputs["cases"]):
        model = ClockLM().to(device)
        args, kwargs = generate_args(spec, case)
        with _Swap(ns, "sample_next", standin_sample(case["offset"])):
            status, result = attempt(ns["generate"], model, *args, **kwargs)
        out.append({"status": status, "result": plain(result) if status == "ok" else result,
                    "device_ok": type(result) is torch.Tensor and result.device == model.anchor.device})
    return {"cases": out}


def run_function(function: str, ns: dict, inputs: dict, device) -> dict:
    """One graded function on its inputs: ``{"cases": [...]}`` (temperature's sample_next: its own layout)."""
    runner = globals()[f"_run_{function}"]
    if function in ("sample_next", "generate"):
        return runner(ns, inputs, device)
    return {"cases": [runner(ns, case, device) for case in inputs["cases"]]}


# -------------------------------------------------------------------------------------------- the program
class Recorder:
    """PyTorch's profiler around one function's probe: which operators ran, and whether it recorded throughout.

    A start and an end marker with a secret nonce go into the record; a recorder that student code stopped,
    restarted or replaced lacks one of them, and the judge is told so. What it uses (the profiler's classes, the
    patterns, ``os.urandom``) is taken when the runner starts, before any student code, so that replacing those
    module attributes later (fake profiler classes that replay the markers) changes nothing here.
    """

    TOOLS = None  # filled by ``capture()``

    @classmethod
    def capture(cls) -> None:
        cls.TOOLS = dict(profile=torch.autograd.profiler.profile, mark=torch.autograd.profiler.record_function,
                         urandom=os.urandom, hexify=base64.b16encode, lstm=LSTM_OPS.search,
                         autograd=AUTOGRAD_OPS.search, sorted=sorted, names=lambda events: [e.name for e in events])

    def __init__(self):
        self.tools = dict(self.TOOLS)
        self.nonce = self.tools["hexify"](self.tools["urandom"](8)).decode()

    def __enter__(self):
        try:
            self.prof = self.tools["profile"](use_kineto=False)
        except Exception:  # a torch without the legacy profiler
            self.prof = self.tools["profile"]()
        self.prof.__enter__()
        with self.tools["mark"](f"grader-mark-start-{self.nonce}"):
            pass
        return self

    def __exit__(self, *exc):
        with self.tools["mark"](f"grader-mark-end-{self.nonce}"):
            pass
        self.state = "ok"
        try:
            self.prof.__exit__(None, None, None)
            names = self.tools["names"](self.prof.function_events)
        except Exception as err:  # the session was stopped under it
            self.state, names = f"the recorder could not be read ({type(err).__name__})", []
        if self.state == "ok" and not (f"grader-mark-start-{self.nonce}" in names and f"grader-mark-end-{self.nonce}" in names):
            self.state = "the recorder was stopped or replaced while the function ran"
        self.lstm = self.tools["sorted"]({n for n in names if self.tools["lstm"](n)})
        self.autograd = self.tools["sorted"]({n for n in names if self.tools["autograd"](n)})[:5]
        return False


def _cell_code(source: str) -> str:
    """IPython magics and shell escapes (%, !) become ``pass``: plain Python runs here, not IPython."""
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


class _NoShell:
    """What ``get_ipython()`` returns here: every attribute a call that does nothing (magics are not run)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _ipython_names(sources: list) -> dict:
    """The names IPython gives a notebook (``display``, ``In``, ``Out``, ``get_ipython``), so that a cell that uses
    them to look at something runs here as in Jupyter instead of failing on a NameError."""
    shell = _NoShell()
    return {"display": lambda *objs, **kwargs: print(*map(repr, objs), file=sys.stderr), "In": [""] + list(sources),
            "_ih": [""] + list(sources), "Out": {}, "_oh": {}, "get_ipython": lambda: shell}


def _alarm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(0.0, seconds))


def _on_alarm(signum, frame):
    raise ProbeTimeout(f"time limit reached")


def main() -> None:
    job = torch.load(io.BytesIO(sys.stdin.buffer.read()), weights_only=True)
    sys.stdin.close()
    key, timeout = bytes.fromhex(job["key"]), float(job["timeout"])
    # The results' channel: the original standard output, kept under another descriptor; fd 1 now goes to
    # standard error, so whatever student code prints (or writes to fd 1) never mixes with the results.
    out, write, save, sign, b64 = os.dup(1), os.write, torch.save, hmac.new, base64.b64encode
    os.dup2(2, 1)
    signal.signal(signal.SIGALRM, _on_alarm)
    Recorder.capture()
    # ``import __main__`` (or sys.modules["__main__"]) in a student cell finds an empty module, not this program
    sys.modules["__main__"] = types.ModuleType("__main__")

    def emit(function: str, payload: dict) -> None:
        buf = io.BytesIO()
        try:
            save(payload, buf)
        except Exception as err:  # e.g. an object torch.save cannot store
            buf = io.BytesIO()
            save({"probe_error": f"{type(err).__name__}: {err}"[:300]}, buf)
        blob = b64(buf.getvalue()).decode("ascii")
        mac = sign(key, f"{function} {blob}".encode(), "sha256").hexdigest()
        data = f"{MARKER} {function} {blob} {mac}\n".encode()
        while data:
            data = data[write(out, data):]

    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    ns.update(_ipython_names([source for _, source in job["cells"]]))
    cells = []
    for index, (name, source) in enumerate(job["cells"]):
        if index in job["skip_cells"]:
            continue
        emit("_progress", {"step": f"cell {index}", "state": "start"})  # a process that dies here names the cell
        try:
            text = _cell_code(source)
            # the source where inspect finds it, as IPython does: torch.jit.script reads a function's source
            linecache.cache[f"<{name}>"] = (len(text), None, text.splitlines(True), f"<{name}>")
            code = compile(text, f"<{name}>", "exec")
            _alarm(timeout)
            try:
                exec(code, ns)
            finally:
                _alarm(0)
            cells.append((name, "ok"))
        except ProbeTimeout:
            cells.append((name, f"did not finish within {timeout:g} s"))
        except BaseException as err:  # noqa: BLE001 -- SystemExit and the like end the cell, not the probe
            if isinstance(err, KeyboardInterrupt):
                raise
            cells.append((name, f"{type(err).__name__}: {str(err)[:200]}"))
    emit("_cells", {"cells": cells})
    device = ns.get("DEVICE")
    device = device if isinstance(device, torch.device) else torch.device("cpu")
    for function in job["functions"]:
        emit("_progress", {"step": f"function {function}", "state": "start"})
        payload: dict = {}
        if not callable(ns.get(function)):
            payload["probe_error"] = f"{function} is not defined (its cell raised an error or was never run)"
        else:
            recorder = Recorder()
            try:
                _alarm(timeout)
                with recorder:
                    payload["results"] = run_function(function, ns, job["inputs"][function], device)
            except ProbeTimeout:
                payload["probe_error"] = f"{function} did not finish within {timeout:g} s"
            except BaseException as err:  # noqa: BLE001
                if isinstance(err, KeyboardInterrupt):
                    raise
                payload["probe_error"] = f"the probe failed: {type(err).__name__}: {str(err)[:200]}"
            finally:
                _alarm(0)
            payload.update(recorder=getattr(recorder, "state", "the recorder did not finish"),
                           lstm_ops=getattr(recorder, "lstm", []), autograd_ops=getattr(recorder, "autograd", []))
        emit(function, payload)
    emit("_done", {})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no student finaliser or atexit hook runs after the last result


if __name__ == "__main__":
    main()
