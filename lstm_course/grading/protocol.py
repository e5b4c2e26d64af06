"""How probe inputs and results travel between the judge (nbgrader's process) and the student's kernel.

Both directions carry data only: a ``torch.save`` archive of tensors, numbers, strings, booleans and
lists/tuples/dicts of them, base64-encoded, read with ``torch.load(..., weights_only=True)``, which builds no
object and calls no function named in the data. Inputs go into the probe cell's source; results come back as
one line of the probe cell's standard output::

    LSTM-COURSE-PROBE <function> <base64 archive>

Imported in the kernel by the probe cells (``checks/*.py``) and in the grader by ``judge.py``: one format,
written once.
"""
from __future__ import annotations

import base64
import io
import sys
from typing import Any, Callable

import torch

MARKER = "LSTM-COURSE-PROBE"
MAX_RESULT_BYTES = 8 * 2**20  # one function's results; larger is "oversized" and scores 0


class ProbeError(ValueError):
    """A result the judge cannot use: missing, malformed, oversized, or of the wrong kind."""


def encode(obj: Any) -> str:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode(text: str, max_bytes: int = MAX_RESULT_BYTES) -> Any:
    if len(text) > 4 * max_bytes // 3 + 8:
        raise ProbeError(f"oversized result ({len(text)} characters)")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        return torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as err:  # anything a forged blob can raise
        raise ProbeError(f"malformed result ({type(err).__name__}: {str(err)[:200]})") from None


def parse(stdout: str) -> dict[str, list[str]]:
    """function -> every archive the probe output holds for it (the judge accepts exactly one)."""
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        parts = line.strip().split(" ")
        if len(parts) == 3 and parts[0] == MARKER:
            found.setdefault(parts[1], []).append(parts[2])
    return found


# ------------------------------------------------------------------------------------ kernel side
def emit(function: str, results: dict) -> None:
    """Print one function's results (in the kernel, at the end of its probe cell)."""
    try:
        line = f"{MARKER} {function} {encode(results)}"
    except Exception as err:  # e.g. an object that torch.save cannot store
        line = f"{MARKER} {function} {encode({'probe_error': f'{type(err).__name__}: {err}'[:300]})}"
    sys.__stdout__.flush()
    print(line, flush=True)


def probe(notebook: str, function: str, namespace: dict, blob: str) -> None:
    """A probe cell's body: run ``function`` from the student's ``namespace`` on the inputs, print the results."""
    import importlib
    checks = importlib.import_module(f"{__package__}.checks.{notebook}")
    inputs = decode(blob, max_bytes=64 * 2**20)
    device = namespace.get("DEVICE")
    device = device if isinstance(device, torch.device) else torch.device("cpu")
    if function not in namespace:
        emit(function, {"probe_error": f"{function} is not defined (its cell raised an error or was never run)"})
        return
    emit(function, checks.run(function, namespace, inputs, device))


def plain(value: Any) -> Any:
    """A returned value as data: a plain tensor (detached, on the CPU), a number, or a description of it."""
    if type(value) is torch.Tensor:
        return value.detach().to("cpu", copy=True)
    if type(value) in (int, float, bool, str) or value is None:
        return value
    if type(value) in (tuple, list):
        return {"container": type(value).__name__, "items": [plain(v) for v in value]}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def attempt(fn: Callable, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", result) or ("error", "ExceptionType: message")."""
    try:
        return "ok", fn(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 -- a student's function can raise anything, KeyboardInterrupt too
        if isinstance(err, KeyboardInterrupt):
            raise
        return "error", f"{type(err).__name__}: {str(err)[:300]}"


def tensor(value: Any, what: str) -> torch.Tensor:
    """The judge's view of a returned tensor: a plain tensor, else ProbeError."""
    if type(value) is not torch.Tensor:
        raise ProbeError(f"{what}: expected a tensor, got {value!r:.80}")
    return value
