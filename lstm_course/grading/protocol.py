"""How probe inputs and results travel between the judge (nbgrader's process) and the probe process.

Both directions carry data only: a ``torch.save`` archive of tensors, numbers, strings, booleans and
lists/tuples/dicts of them, read with ``torch.load(..., weights_only=True)``, which builds no object and calls no
function named in the data. The job (the cells to run, the inputs, a secret key) goes to the probe's standard
input; each result comes back as one line of its standard output::

    LSTM-COURSE-PROBE <function> <base64 archive> <HMAC-SHA256 of "<function> <base64 archive>", hex>

A line whose signature is wrong is not decoded at all (student code in the probe never sees the key). Before an
archive is loaded its zip directory is read: every member must be stored uncompressed (``torch.save`` never
compresses) and the members together no larger than the cap, so no archive inflates in the judge's memory.

The probe side of the format is ``probe_runner.py`` (standalone: it cannot import this package).
"""
from __future__ import annotations

import base64
import hmac
import io
import zipfile
from typing import Any

import torch

MARKER = "LSTM-COURSE-PROBE"
MAX_RESULT_BYTES = 8 * 2**20  # one function's results; larger is "oversized" and scores 0


class ProbeError(ValueError):
    """A result the judge cannot use: missing, malformed, oversized, forged, or of the wrong kind."""


def encode(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def sign(key: bytes, function: str, blob: str) -> str:
    return hmac.new(key, f"{function} {blob}".encode(), "sha256").hexdigest()


def check_archive(raw: bytes, max_bytes: int = MAX_RESULT_BYTES) -> None:
    """Refuse an archive before anything is inflated: compressed members, or more than ``max_bytes`` in all."""
    if len(raw) > max_bytes:
        raise ProbeError(f"oversized result ({len(raw)} bytes)")
    try:
        members = zipfile.ZipFile(io.BytesIO(raw)).infolist()
    except Exception as err:
        raise ProbeError(f"malformed result ({type(err).__name__}: {str(err)[:200]})") from None
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise ProbeError("malformed result (a compressed member: torch.save never writes one)")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise ProbeError(f"oversized result ({total} bytes once unpacked)")


def decode(text: str, max_bytes: int = MAX_RESULT_BYTES) -> Any:
    if len(text) > 4 * max_bytes // 3 + 8:
        raise ProbeError(f"oversized result ({len(text)} characters)")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except Exception as err:
        raise ProbeError(f"malformed result ({type(err).__name__}: {str(err)[:200]})") from None
    check_archive(raw, max_bytes)
    try:
        return torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as err:  # anything a damaged archive can raise
        raise ProbeError(f"malformed result ({type(err).__name__}: {str(err)[:200]})") from None


def parse(stdout: str, key: bytes) -> tuple[dict[str, list[str]], int]:
    """function -> every correctly signed archive the output holds for it; and the number of forged lines."""
    found: dict[str, list[str]] = {}
    forged = 0
    for line in stdout.splitlines():
        parts = line.strip().split(" ")
        if len(parts) == 4 and parts[0] == MARKER:
            if hmac.compare_digest(sign(key, parts[1], parts[2]), parts[3]):
                found.setdefault(parts[1], []).append(parts[2])
            else:
                forged += 1
    return found, forged


def tensor(value: Any, what: str) -> torch.Tensor:
    """The judge's view of a returned tensor: a plain tensor, else ProbeError."""
    if type(value) is not torch.Tensor:
        raise ProbeError(f"{what}: expected a tensor, got {value!r:.80}")
    return value
