"""Saving and loading a trained character model: weights + vocabulary + configuration, in one file.

The file is a plain ``torch.save`` dictionary loaded with ``weights_only=True`` (no arbitrary
pickles): tensors, numbers, strings, lists, tuples and dicts only. Dataclasses (the model's
``CharLMConfig``, a ``TrainConfig`` in ``extra``) are stored as ``{"__dataclass__": "module:Name",
"fields": {...}}`` and rebuilt on load. A checkpoint is data a student may have downloaded, so it
never names code: the only classes it can rebuild are the few listed in :data:`DATACLASSES` (plain
configuration dataclasses) and :data:`MODEL_CLASSES`, looked up by exact name in those tables (no
import, no attribute walk). Any other name is a ``ValueError`` before anything is called.

Loading costs about what the file holds: before anything is unpickled the zip directory is read (members
stored, as ``torch.save`` writes them, and no larger than the file), and before any model is built its stored
configuration is checked against sane limits (:data:`LIMITS`) and against the saved tensors' names, shapes and
the bytes behind them, so no file makes the loader allocate much more than its own size or run for long. Every
malformed field is a one-line ``ValueError`` naming the file; so are NaN or infinite weights.

Writes are atomic: the checkpoint is written to a temporary file next to the target and moved into
place with ``os.replace``, so an interrupted save never leaves a half-written checkpoint under the
real name (an older checkpoint there stays intact). Tensors are saved on the CPU and loaded onto the
CPU by default, so a checkpoint trained on a GPU opens on a laptop.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import History, TrainConfig
from lstm_course.vocab import CharVocab

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "DATACLASSES", "MODEL_CLASSES", "LIMITS"]

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

#: Bounds on a stored ``CharLMConfig`` (every Unicode code point; far wider and deeper than the course trains).
#: The tighter bound is the file: its tensors must have the config's shapes, backed by bytes it really holds.
LIMITS: dict[str, int] = {"vocab_size": 0x110000, "embed_dim": 1 << 16, "hidden_size": 1 << 16, "num_layers": 1024}
_MAX_DEPTH = 64  # nesting of stored values; a recursive walk would end in RecursionError (a traceback) far deeper


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


def _check_size(obj: Any, left: list[int], depth: int = 0) -> None:
    """Walk ``obj`` as :func:`_unpack` will, building nothing: at most ``left[0]`` values, ``_MAX_DEPTH`` deep.
    A genuine file spends a pickle byte or more on each value; only values sharing references (``x = [x, x]``
    forty times: 1.5 KB of pickle, 2**40 values unfolded) hold more, and copying them would not end."""
    left[0] -= 1
    if left[0] < 0:
        raise ValueError("expected at most one stored value per byte of the file, got more (values that share "
                         "references?)")
    if depth > _MAX_DEPTH:
        raise ValueError(f"expected stored values nested at most {_MAX_DEPTH} deep, got deeper")
    for v in obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ():
        _check_size(v, left, depth + 1)


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
            its vocabulary, config and weights disagree, or it would cost more than it holds (:data:`LIMITS`, shapes
            and bytes); a field has the wrong type; a weight is NaN or infinite; ``vocab`` differs from the saved
            one; or ``map_location`` is a device this machine does not have.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {str(path)!r}")
    # the CPU is the one device every machine has, so a checkpoint trained on a GPU opens on a laptop
    device = _usable_device(map_location)
    _check_archive(path)
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
        raise ValueError(f"{str(path)!r}: expected an lstm_course checkpoint (format {FORMAT!r}), got {got!r:.120}")
    missing = [k for k in ("model_class", "model_state", "vocab", "config", "extra") if k not in payload]
    if missing:
        raise ValueError(f"{str(path)!r}: expected an lstm_course checkpoint with {missing} too, got a file without")

    # every name, type, size and shape is checked before anything is built from the file
    try:
        model_cls = _lookup(payload["model_class"], MODEL_CLASSES, "a model class")
        saved_vocab = _read_vocab(payload["vocab"])
        _check_size([payload["config"], payload["extra"]], [path.stat().st_size])
        config = _unpack(payload["config"])
        extra = _unpack(payload["extra"])
        if not isinstance(extra, dict):
            raise ValueError(f"expected extra to be a dict, got {type(extra).__name__}")
        config_cls = _CONFIG_OF[model_cls]
        if not isinstance(config, config_cls):
            raise ValueError(f"expected a {config_cls.__name__} for its {model_cls.__name__}, "
                             f"got {type(config).__name__}")
        _check_config(config)
        if config.vocab_size != len(saved_vocab):  # else sampling dies later inside the embedding
            raise ValueError(f"expected config.vocab_size to equal the saved vocabulary's "
                             f"{len(saved_vocab)} symbols, got {config.vocab_size!r}")
        _check_weights(payload["model_state"], config)
    except ValueError as e:
        raise ValueError(f"{str(path)!r}: {e}") from e
    if vocab is not None and vocab != saved_vocab:
        raise ValueError(f"{str(path)!r} was trained with a different vocabulary, so token ids would mean "
                         f"other characters: {_describe_vocab_difference(saved_vocab, vocab)}")
    model = model_cls(config)
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, TypeError, AttributeError) as e:  # a backstop: _check_weights finds these first
        msg = " ".join(str(e).split())[:300] or type(e).__name__
        raise ValueError(f"{str(path)!r}: expected weights matching its {model_cls.__name__} config, got {msg}") from e
    model.to(device)
    model.eval()
    return model, saved_vocab, config, extra


def _check_archive(path: Path) -> None:
    """The zip directory read before ``torch.load``: members stored (``torch.save`` never compresses) and together
    no larger than the file, so nothing inflates (a deflated 200 MB of zeros is a 200 KB file)."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except OSError:  # unreadable (permissions, I/O): not a question of the file's contents
        raise
    except Exception as e:  # BadZipFile and kin; torch's legacy format would allocate what the file declares
        raise ValueError(f"{str(path)!r} is not a readable checkpoint (truncated or corrupt file?): expected a zip "
                         f"archive as torch.save writes, got {'an empty file' if size == 0 else e}") from e
    for m in members:
        if m.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{str(path)!r}: expected members stored as torch.save writes them, got "
                             f"{m.filename!r:.80} compressed")
    if (total := sum(m.file_size for m in members)) > size:
        raise ValueError(f"{str(path)!r}: expected members no larger than the file's {size:,} bytes, got {total:,}")


def _read_vocab(stored: Any) -> CharVocab:
    """The saved vocabulary, its types, size and distinctness checked here in linear time (CharVocab's own report
    of duplicates is quadratic: 300,000 copies of one symbol would take minutes)."""
    itos = stored.get("itos") if isinstance(stored, dict) else None
    if isinstance(stored, dict) and "itos" in stored:
        if not isinstance(itos, (list, tuple)):
            raise ValueError(f"expected vocab['itos'] to be a list of characters, got {type(itos).__name__}")
        if len(itos) > LIMITS["vocab_size"]:
            raise ValueError(f"expected at most {LIMITS['vocab_size']:,} symbols in the vocabulary, got {len(itos):,}")
        seen: set[str] = set()
        for ch in itos:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"expected single characters in vocab['itos'], got {ch!r:.40}")
            if ch in seen:
                raise ValueError(f"expected distinct characters in the vocabulary, got {ch!r} more than once")
            seen.add(ch)
    return CharVocab.from_dict(stored)  # its own checks: a dict with 'itos', unk one character or None


def _check_config(config: CharLMConfig) -> None:
    """Types and :data:`LIMITS` of a stored config (a dataclass checks no types; ``validate`` not all of them)."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    for name, limit in LIMITS.items():
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"expected config.{name} to be a positive int, got {v!r:.40}")
        if v > limit:
            raise ValueError(f"expected config.{name} <= {limit}, got {v}")
    if not (number(config.dropout) and 0 <= config.dropout < 1):
        raise ValueError(f"expected config.dropout to be a number in [0, 1), got {config.dropout!r:.40}")
    if not isinstance(config.tie_weights, bool):
        raise ValueError(f"expected config.tie_weights to be True or False, got {config.tie_weights!r:.40}")
    if not number(config.forget_bias):
        raise ValueError(f"expected config.forget_bias to be a finite number, got {config.forget_bias!r:.40}")
    config.validate()  # what is left: tie_weights needs embed_dim == hidden_size


def _charlm_shapes(c: CharLMConfig) -> dict[str, tuple[int, ...]]:
    """The state_dict shapes of ``CharLM(c)``, from arithmetic alone (nothing is allocated)."""
    V, E, H = c.vocab_size, c.embed_dim, c.hidden_size
    shapes: dict[str, tuple[int, ...]] = {"embed.weight": (V, E)}
    for k in range(c.num_layers):  # nn.LSTM's names; gates i, f, g, o stacked: (4H, …)
        shapes.update({f"lstm.weight_ih_l{k}": (4 * H, E if k == 0 else H), f"lstm.weight_hh_l{k}": (4 * H, H),
                       f"lstm.bias_ih_l{k}": (4 * H,), f"lstm.bias_hh_l{k}": (4 * H,)})
    return {**shapes, "head.weight": (V, H), "head.bias": (V,)}


def _check_weights(state: Any, config: CharLMConfig) -> None:
    """The saved tensors against the config: names, shapes, dtypes, the bytes behind them, finiteness."""
    if not isinstance(state, dict):
        raise ValueError(f"expected model_state to be a dict of tensors, got {type(state).__name__}")
    for k, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"expected model_state[{k!r:.80}] to be a tensor, got {type(t).__name__}")
    shapes = _charlm_shapes(config)
    if set(state) != set(shapes):
        missing, unexpected = sorted(set(shapes) - set(state)), sorted(set(state) - set(shapes), key=str)
        raise ValueError(f"expected weights matching its CharLM config, got {len(state)} tensors for {len(shapes)} "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    for k, shape in shapes.items():
        t = state[k]
        if tuple(t.shape) != shape:
            raise ValueError(f"expected weights matching its CharLM config, got {k} of shape {tuple(t.shape)} "
                             f"where the config means {shape}")
        if t.layout != torch.strided or not t.is_floating_point():
            raise ValueError(f"expected floating-point weights, got {t.dtype} in {k!r}")
    # a shape can lie (a stride-0 view of 4 bytes "is" 80000 x 20000, 256 matrices can view one storage): the
    # model will allocate every parameter for real, so together they may not exceed what the file stores
    tied = config.tie_weights  # head.weight is embed.weight in the model: allocated once
    need = sum(t.numel() * t.element_size() for k, t in state.items() if not (tied and k == "head.weight"))
    held = sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in state.values()}.values())
    if need > held:
        raise ValueError(f"expected weights backed by the file's own data, got {need:,} bytes of weights over "
                         f"{held:,} stored (views that repeat or overlap)")
    for k, t in state.items():
        bad = int((~torch.isfinite(t)).sum())
        if bad:  # they would load and fail only at sampling, far from the file that caused it
            raise ValueError(f"expected finite weights, got {bad} NaN or infinite value(s) in {k!r}")


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
