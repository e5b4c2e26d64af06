"""Saving and loading a trained character model: weights + vocabulary + configuration, in one file.

The file is a plain ``torch.save`` dictionary loaded with ``weights_only=True`` (no arbitrary
pickles): tensors, numbers, strings, lists, tuples and dicts only. Dataclasses (the model's
``CharLMConfig``, a ``TrainConfig`` in ``extra``) are stored as ``{"__dataclass__": "module:Name",
"fields": {...}}`` and rebuilt on load. A checkpoint is data a student may have downloaded, so it
never names code: the only classes it can rebuild are the few listed in :data:`DATACLASSES` (plain
configuration dataclasses) and :data:`MODEL_CLASSES`, looked up by exact name in those tables (no
import, no attribute walk). Any other name is a ``ValueError`` before anything is called.

Writes are atomic: the checkpoint is written to a temporary file next to the target and moved into
place with ``os.replace``, so an interrupted save never leaves a half-written checkpoint under the
real name (an older checkpoint there stays intact). Tensors are saved on the CPU and loaded onto the
CPU by default, so a checkpoint trained on a GPU opens on a laptop.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import History, TrainConfig
from lstm_course.vocab import CharVocab

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "DATACLASSES", "MODEL_CLASSES"]

FORMAT = "lstm_course.checkpoint/1"
_DATACLASS = "__dataclass__"


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _allow_list(*classes: type) -> dict[str, type]:
    return {_class_name(cls): cls for cls in classes}


#: The configuration dataclasses a checkpoint may rebuild, by ``"module:Name"``. Only plain dataclasses
#: whose construction runs nothing but their own field checks belong here.
DATACLASSES: dict[str, type] = _allow_list(CharLMConfig, TrainConfig, History)
#: The model classes a checkpoint may rebuild, each as ``cls(config)`` with its config dataclass.
MODEL_CLASSES: dict[str, type] = _allow_list(CharLM)
_CONFIG_OF: dict[type, type] = {CharLM: CharLMConfig}


def _lookup(name: Any, table: dict[str, type], what: str) -> type:
    # a dictionary lookup, never importlib/getattr: a name like "lstm_course.corpus:subprocess.run"
    # must not reach whatever a module happens to import
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"expected {what} from {sorted(table)}, got {name!r:.120} "
                         "(a checkpoint may not name other classes or functions)")
    return table[name]


def _pack(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = _class_name(type(obj))
        if name not in DATACLASSES:  # it could not be loaded again: say so now, not at load time
            raise TypeError(f"save_checkpoint: expected dataclasses from {sorted(DATACLASSES)}, got {name!r}; "
                            "store it as a plain dict (dataclasses.asdict) instead")
        fields = {f.name: _pack(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {_DATACLASS: name, "fields": fields}
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(v) for v in obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    return obj


def _unpack(obj: Any) -> Any:
    if isinstance(obj, dict):
        if _DATACLASS in obj:
            if set(obj) != {_DATACLASS, "fields"} or not isinstance(obj["fields"], dict):
                raise ValueError(f"expected a stored dataclass {{'{_DATACLASS}': name, 'fields': dict}}, "
                                 f"got keys {sorted(map(str, obj))!r}")
            cls = _lookup(obj[_DATACLASS], DATACLASSES, "a configuration dataclass")
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):  # the table's own promise, kept
                raise ValueError(f"expected a dataclass type, got {cls!r}")
            # the class is known before any field is rebuilt, so a nested payload meets the same check first
            names = {f.name for f in dataclasses.fields(cls) if f.init}
            if not set(obj["fields"]) <= names:
                raise ValueError(f"expected fields of {cls.__name__} ({sorted(names)}), got unknown "
                                 f"{sorted(map(str, set(obj['fields']) - names))}")
            fields = {k: _unpack(v) for k, v in obj["fields"].items()}
            try:
                return cls(**fields)
            except (TypeError, ValueError) as e:  # e.g. TrainConfig(lr="fast"): a bad file, not a bug here
                raise ValueError(f"expected valid {cls.__name__} fields, got {' '.join(str(e).split())}") from e
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, model: nn.Module, vocab: CharVocab, config: Any,
                    extra: dict | None = None) -> Path:
    """Write ``model``'s weights, ``vocab`` and the model's ``config`` to ``path`` atomically.

    Args:
        path: target file (parent directories are created). Conventionally ``*.pt``.
        model: the trained model; rebuilt on load as ``type(model)(config)``, so its class must be one of
            :data:`MODEL_CLASSES` (:class:`lstm_course.models.CharLM`).
        vocab: the :class:`~lstm_course.vocab.CharVocab` the model was trained with.
        config: the model's configuration dataclass (``CharLMConfig`` for a ``CharLM``).
        extra: anything else worth keeping (a ``TrainConfig``, ``History.to_dict()``, the step, the
            validation loss): plain Python values, tensors and the dataclasses in :data:`DATACLASSES`.
            Default: ``None``.

    Raises:
        TypeError: a model class or a dataclass that :func:`load_checkpoint` would refuse to rebuild.

    Returns:
        The path written, as a :class:`~pathlib.Path`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save_checkpoint: expected model to be an nn.Module, got {type(model).__name__}")
    if not isinstance(vocab, CharVocab):
        raise TypeError(f"save_checkpoint: expected vocab to be a CharVocab, got {type(vocab).__name__}")
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"save_checkpoint: expected config to be a dataclass instance, got {type(config).__name__}")
    model_name = _class_name(type(model))
    if model_name not in MODEL_CLASSES:
        raise TypeError(f"save_checkpoint: expected a model class from {sorted(MODEL_CLASSES)}, got {model_name!r}")
    if not isinstance(config, _CONFIG_OF[type(model)]):
        raise TypeError(f"save_checkpoint: expected a {_CONFIG_OF[type(model)].__name__} for a "
                        f"{type(model).__name__}, got {type(config).__name__}")
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"save_checkpoint: expected extra to be a dict or None, got {type(extra).__name__}")
    payload = {
        "format": FORMAT,
        "model_class": model_name,
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
        ValueError: the file is truncated, corrupt or not an ``lstm_course`` checkpoint; it names a class
            outside :data:`DATACLASSES` / :data:`MODEL_CLASSES` (nothing named in it is ever called otherwise);
            its vocabulary, config and weights disagree; ``vocab`` differs from the saved one; or
            ``map_location`` is a device this machine does not have.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {str(path)!r}")
    # the CPU is the one device every machine has, so a checkpoint trained on a GPU opens on a laptop
    device = _usable_device(map_location)
    try:
        # always onto the CPU first: a device problem then shows up as one, not as a "corrupt file"
        payload = torch.load(path, map_location="cpu", weights_only=True)
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
    missing = [k for k in ("model_class", "model_state", "vocab", "config", "extra") if k not in payload]
    if missing:
        raise ValueError(f"{str(path)!r}: expected an lstm_course checkpoint with {missing} too, got a file without")

    # every name is checked before anything is built from the file
    try:
        model_cls = _lookup(payload["model_class"], MODEL_CLASSES, "a model class")
        saved_vocab = CharVocab.from_dict(payload["vocab"])
        config = _unpack(payload["config"])
        extra = _unpack(payload["extra"])
    except ValueError as e:
        raise ValueError(f"{str(path)!r}: {e}") from e
    if vocab is not None and vocab != saved_vocab:
        raise ValueError(f"{str(path)!r} was trained with a different vocabulary, so token ids would mean "
                         f"other characters: {_describe_vocab_difference(saved_vocab, vocab)}")
    config_cls = _CONFIG_OF[model_cls]
    if not isinstance(config, config_cls):
        raise ValueError(f"{str(path)!r}: expected a {config_cls.__name__} for its {model_cls.__name__}, "
                         f"got {type(config).__name__}")
    if config.vocab_size != len(saved_vocab):  # else sampling dies later inside the embedding
        raise ValueError(f"{str(path)!r}: expected config.vocab_size to equal the saved vocabulary's "
                         f"{len(saved_vocab)} symbols, got {config.vocab_size!r}")
    model = model_cls(config)
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, TypeError, AttributeError) as e:  # missing/unexpected keys, wrong shapes
        msg = " ".join(str(e).split())[:300] or type(e).__name__
        raise ValueError(f"{str(path)!r}: expected weights matching its {model_cls.__name__} config, got {msg}") from e
    model.to(device)
    model.eval()
    return model, saved_vocab, config, extra


def _usable_device(map_location: str | torch.device | None) -> torch.device:
    """``map_location`` as a device this machine can put tensors on, else ValueError naming the problem."""
    if map_location is None:
        return torch.device("cpu")
    try:
        device = torch.device(map_location)
        torch.empty(0, device=device)  # e.g. "cuda" on a CPU-only torch fails here, not halfway through a load
    except (RuntimeError, AssertionError, ValueError, TypeError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"map_location: expected a device this machine has, got {str(map_location)!r} "
                         f"({msg})") from e
    return device
