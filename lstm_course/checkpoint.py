"""Saving and loading a trained character model: weights + vocabulary + configuration, in one file.

The file is a plain ``torch.save`` dictionary loaded with ``weights_only=True`` (no arbitrary
pickles): tensors, numbers, strings, lists, tuples and dicts only. Dataclasses (the model's
``CharLMConfig``, a ``TrainConfig`` in ``extra``) are stored as ``{"__dataclass__": "module:Name",
"fields": {...}}`` and rebuilt on load, for classes of this package only.

Writes are atomic: the checkpoint is written to a temporary file next to the target and moved into
place with ``os.replace``, so an interrupted save never leaves a half-written checkpoint under the
real name (an older checkpoint there stays intact). Tensors are saved on the CPU and loaded onto the
CPU by default, so a checkpoint trained on a GPU opens on a laptop.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_course.vocab import CharVocab

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = "lstm_course.checkpoint/1"
_DATACLASS = "__dataclass__"


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    # only this package's classes are rebuilt: a checkpoint must not be able to name any importable callable
    if not (module == "lstm_course" or module.startswith("lstm_course.")):
        raise ValueError(f"expected a class from lstm_course, got {name!r}")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _pack(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _pack(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {_DATACLASS: _class_name(type(obj)), "fields": fields}
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(v) for v in obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        if _DATACLASS in obj and set(obj) == {_DATACLASS, "fields"}:
            cls = _import_class(obj[_DATACLASS])
            return cls(**{k: _unpack(v) for k, v in obj["fields"].items()})
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, model: nn.Module, vocab: CharVocab, config: Any,
                    extra: dict | None = None) -> Path:
    """Write ``model``'s weights, ``vocab`` and the model's ``config`` to ``path`` atomically.

    Args:
        path: target file (parent directories are created). Conventionally ``*.pt``.
        model: the trained model; rebuilt on load as ``type(model)(config)``, so its class must live in
            ``lstm_course`` (e.g. :class:`lstm_course.models.CharLM`).
        vocab: the :class:`~lstm_course.vocab.CharVocab` the model was trained with.
        config: the model's configuration dataclass (e.g. ``CharLMConfig``).
        extra: anything else worth keeping (a ``TrainConfig``, ``History.to_dict()``, the step, the
            validation loss): plain Python values, tensors and this package's dataclasses. Default: ``None``.

    Returns:
        The path written, as a :class:`~pathlib.Path`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint: expected model to be an nn.Module, got {type(model).__name__}")
    if not isinstance(vocab, CharVocab):
        raise TypeError(f"save_checkpoint: expected vocab to be a CharVocab, got {type(vocab).__name__}")
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"save_checkpoint: expected config to be a dataclass instance, got {type(config).__name__}")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"save_checkpoint: expected extra to be a dict or None, got {type(extra).__name__}")
    payload = {
        "format": FORMAT,
        "model_class": _class_name(type(model)),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "vocab": vocab.to_dict(),
        "config": _pack(config),
        "extra": _pack(extra or {}),
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _describe_vocab_difference(saved: CharVocab, given: CharVocab) -> str:
    s, g = set(saved.itos), set(given.itos)
    parts = [f"the checkpoint's vocabulary has {len(saved)} symbols, the given one {len(given)}"]
    if s - g:
        parts.append(f"only in the checkpoint: {''.join(sorted(s - g))[:40]!r}")
    if g - s:
        parts.append(f"only in the given vocabulary: {''.join(sorted(g - s))[:40]!r}")
    if s == g:
        first = next(i for i, (a, b) in enumerate(zip(saved.itos, given.itos)) if a != b) \
            if saved.itos != given.itos else None
        if first is not None:
            parts.append(f"same symbols in a different order (first difference at id {first}: "
                         f"{saved.itos[first]!r} vs {given.itos[first]!r})")
        else:
            parts.append("same symbols and order but a different unknown-character setting")
    return "; ".join(parts)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device | None = None,
                    vocab: CharVocab | None = None) -> tuple[nn.Module, CharVocab, Any, dict]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file.
        map_location: device for the rebuilt model; ``None`` = the CPU, whatever device it was trained
            on. Default: ``None``.
        vocab: if given, it must equal the saved vocabulary (ids mean the same characters); otherwise
            ``ValueError`` explains the difference. Default: ``None``.

    Returns:
        ``(model, vocab, config, extra)``: the model (in eval mode, on ``map_location``), the saved
        :class:`~lstm_course.vocab.CharVocab`, the model config dataclass and the ``extra`` dict.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupt or not an ``lstm_course`` checkpoint, or ``vocab``
            differs from the saved one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {str(path)!r}")
    # the CPU is the one device every machine has, so a checkpoint trained on a GPU opens on a laptop
    device = torch.device(map_location) if map_location is not None else torch.device("cpu")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # zip/pickle/EOF errors differ by torch version; the reader needs one message
        if "Weights only load failed" in str(e):
            raise ValueError(f"{str(path)!r}: expected an lstm_course checkpoint holding only tensors and plain "
                             "values, got a file with other Python objects (not written by save_checkpoint)") from e
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{str(path)!r} is not a readable checkpoint (truncated or corrupt file?): "
                         f"{first_line}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{str(path)!r}: expected an lstm_course checkpoint (format {FORMAT!r}), got {got!r}")

    saved_vocab = CharVocab.from_dict(payload["vocab"])
    if vocab is not None and vocab != saved_vocab:
        raise ValueError(f"{str(path)!r} was trained with a different vocabulary, so token ids would mean "
                         f"other characters: {_describe_vocab_difference(saved_vocab, vocab)}")
    config = _unpack(payload["config"])
    model_cls = _import_class(payload["model_class"])
    model = model_cls(config)
    model.load_state_dict(payload["model_state"])
    model.to(device)
    model.eval()
    return model, saved_vocab, config, _unpack(payload["extra"])
