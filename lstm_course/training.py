"""Training a language model with truncated backpropagation through time (TBPTT).

This file knows nothing about LSTMs (minGPT's ``trainer.py`` is the model): it only calls
``model(x, state) -> (logits, state)`` and :func:`detach_state`. Anything recurrent whose
state is ``None``, a tensor, or a (nested) tuple/list of tensors trains here.

One optimisation step = one TBPTT chunk:

1. ``x, y`` of shape (B, T) come from :func:`lstm_course.data.tbptt_batches` over the training
   ids cut into B contiguous streams (:func:`lstm_course.data.batchify`, shape (B, L)).
2. ``logits, state = model(x, state)``; loss = mean cross-entropy in nats per character.
3. Backward, global grad-norm clipping (the *pre*-clip norm goes into ``History.grad_norm``),
   AdamW step with a linear-warmup + cosine learning-rate schedule (with ``optimizer="muon"``, the matrices the
   model names in ``matrix_blocks()`` take a :class:`lstm_course.optim.Muon` step instead).
4. The state returned for chunk k is passed to chunk k+1 (``carry_state=True``) after
   :func:`detach_state`, so its *values* flow on while backward stops at the chunk boundary.
   With ``detach=False`` the second backward fails: the graph of chunk k was freed.

Losses are in nats per character; bits per character = nats / ln 2.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from lstm_course.data import batchify, tbptt_batches
from lstm_course.device import model_device
from lstm_course.optim import build_optimizers

__all__ = ["TrainConfig", "History", "detach_state", "lr_at", "train_lm", "evaluate_lm", "resolve_amp_dtype"]

_AMP_DTYPES = {"bfloat16": torch.bfloat16}
_OPTIMIZERS = ("adamw", "muon")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_lm` (defaults = the course's CPU run; presets below).

    Args:
        batch_size: B, number of parallel TBPTT streams. Default: 32.
        bptt: T, time steps per chunk (backprop stops at chunk boundaries). Default: 32.
        lr: peak learning rate (of AdamW, and of Muon times ``muon_lr_scale``). Default: 2e-2.
        min_lr: learning rate at the end of the cosine decay. Default: 0.0 (the decay ends exactly when the
            step or time budget does, so the last steps average the weights down instead of stopping at a high lr).
        weight_decay: decoupled weight decay (AdamW's, and Muon's), applied to matrices only (not biases). Default: 0.1.
        betas: AdamW betas. Default: (0.9, 0.99).
        clip: max global gradient L2 norm, ``None`` = no clipping (the norm is still recorded). Default: 1.0.
        warmup_steps: linear warm-up from ``lr / warmup_steps`` to ``lr``. Default: 50.
        max_steps: stop after this many optimisation steps. Default: ``None``.
        max_seconds: stop once this much wall-clock time has passed (checked after each step). Default: ``None``.
            When both limits are ``None`` the run is one pass (epoch) over the training ids. The cosine decay
            follows whichever budget is closer to being used up.
        eval_every: evaluate on the validation ids every this many steps (and after the last step). Default: 200.
        eval_batches: at most this many validation chunks per evaluation, ``None`` = all. Default: 50.
        seed: seeds torch's RNG (dropout) and the per-epoch stream offsets. Default: 0.
        carry_state: pass the final state of chunk k to chunk k+1; ``False`` starts every chunk from zeros. Default: True.
        detach: detach the carried state (TBPTT). ``False`` shows why detaching is needed. Default: True.
        optimizer: ``"adamw"``: AdamW for every parameter; ``"muon"``: :class:`lstm_course.optim.Muon` for the
            weight matrices that ``model.matrix_blocks()`` lists (a CharLM's LSTM weights, one Newton-Schulz
            orthogonalisation per gate), AdamW for the rest (embeddings, output layer, biases). Default: ``"adamw"``.
        muon_lr_scale: Muon's learning rate as a multiple of ``lr``. Default: 1.0.
        muon_momentum: Muon's momentum. Default: 0.95.
        muon_ns_steps: Muon's Newton-Schulz iterations per step. Default: 3.
        amp_dtype: ``"bfloat16"`` runs forward passes under ``torch.autocast`` with that dtype on the model's
            device type (fast on CPUs with AMX-bf16 and on recent GPUs); ``None`` = full float32; ``"auto"`` =
            bfloat16 where the device computes it natively, else float32 (:func:`resolve_amp_dtype`). Default: ``"auto"``
            (2.5-3.4x the training throughput of float32 for 1- and 2-layer CharLMs on an AMX CPU, benchmarks/README.md).
    """

    # defaults chosen with benchmarks/charlm.py (1x384 CharLM, 180 s on 2 CPU cores; see benchmarks/README.md; lr 2e-2
    # since the sixth sweep: 0.03 nats/char better than 7e-3 over 3 seeds in bf16, and on one seed in float32)
    batch_size: int = 32
    bptt: int = 32
    lr: float = 2e-2
    min_lr: float = 0.0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    clip: float | None = 1.0
    warmup_steps: int = 50
    max_steps: int | None = None
    max_seconds: float | None = None
    eval_every: int = 200
    eval_batches: int | None = 50
    seed: int = 0
    carry_state: bool = True
    detach: bool = True
    optimizer: str = "adamw"
    muon_lr_scale: float = 1.0
    muon_momentum: float = 0.95
    muon_ns_steps: int = 3
    amp_dtype: str | None = "auto"

    def __post_init__(self) -> None:
        def check(ok: bool, what: str, value: Any) -> None:
            if not ok:
                raise ValueError(f"TrainConfig: expected {what}, got {value!r}")

        check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size >= 1", self.batch_size)
        check(isinstance(self.bptt, int) and self.bptt >= 1, "bptt >= 1", self.bptt)
        check(self.lr > 0, "lr > 0", self.lr)
        check(0 <= self.min_lr <= self.lr, "0 <= min_lr <= lr", self.min_lr)
        check(self.weight_decay >= 0, "weight_decay >= 0", self.weight_decay)
        check(self.clip is None or self.clip > 0, "clip > 0 or None", self.clip)
        check(self.warmup_steps >= 0, "warmup_steps >= 0", self.warmup_steps)
        check(self.max_steps is None or self.max_steps >= 1, "max_steps >= 1 or None", self.max_steps)
        check(self.max_seconds is None or self.max_seconds > 0, "max_seconds > 0 or None", self.max_seconds)
        check(self.eval_every >= 1, "eval_every >= 1", self.eval_every)
        check(self.eval_batches is None or self.eval_batches >= 1, "eval_batches >= 1 or None", self.eval_batches)
        check(self.optimizer in _OPTIMIZERS, f"optimizer in {list(_OPTIMIZERS)}", self.optimizer)
        check(self.muon_lr_scale > 0, "muon_lr_scale > 0", self.muon_lr_scale)
        check(0 <= self.muon_momentum < 1, "0 <= muon_momentum < 1", self.muon_momentum)
        check(isinstance(self.muon_ns_steps, int) and self.muon_ns_steps >= 1, "muon_ns_steps >= 1",
              self.muon_ns_steps)
        check(self.amp_dtype is None or self.amp_dtype == "auto" or self.amp_dtype in _AMP_DTYPES,
              f"amp_dtype in {sorted(_AMP_DTYPES) + ['auto']} or None", self.amp_dtype)

    @classmethod
    def tiny(cls, **overrides: Any) -> "TrainConfig":
        """A few fast steps on a small text: for tests and quick demos."""
        values: dict[str, Any] = dict(batch_size=4, bptt=16, lr=1e-2, min_lr=1e-3, warmup_steps=2,
                                      max_steps=20, eval_every=10, eval_batches=4,
                                      amp_dtype=None)  # float32: tiny models gain nothing from bf16
        values.update(overrides)
        return cls(**values)

    @classmethod
    def shakespeare(cls, **overrides: Any) -> "TrainConfig":
        """The defaults plus Muon (at 0.66 times ``lr``) for the LSTM's gate matrices: what ``benchmarks/charlm.py``
        and ``python -m lstm_course train`` train ``CharLMConfig.shakespeare`` with (eighth sweep,
        benchmarks/README.md)."""
        values: dict[str, Any] = dict(optimizer="muon", muon_lr_scale=0.66)
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for logs and JSON)."""
        return asdict(self)


@dataclass
class History:
    """What :func:`train_lm` measured. Losses are nats per character (bits = nats / ln 2).

    ``step``, ``train_loss``, ``grad_norm`` (before clipping), ``lr`` and ``seconds`` (wall clock since
    the start) have one entry per optimisation step (steps count from 1); ``val_loss`` has one entry per
    evaluation, taken after step ``val_step[i]``.
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def best_val(self) -> float | None:
        """Lowest validation loss seen (nats/char), ``None`` before any evaluation."""
        return min(self.val_loss) if self.val_loss else None

    def to_dict(self) -> dict[str, list]:
        """The lists as a plain dict (what checkpoints and benchmark JSON store)."""
        return asdict(self)


def detach_state(state: Any) -> Any:
    """Cut the autograd history of a recurrent state, keeping its values.

    ``None`` → ``None``; a tensor → ``tensor.detach()``; a tuple or list (nested any depth, e.g. an
    LSTM's ``(h, c)``) → the same container type holding detached tensors. Anything else → TypeError.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"detach_state: expected None, a Tensor or a tuple/list of them, got {type(state).__name__}")


def lr_at(step: int, config: TrainConfig, progress: float) -> float:
    """Learning rate for optimisation step ``step`` (0-based).

    Linear warm-up over ``config.warmup_steps`` steps up to ``config.lr``, then cosine decay from
    ``config.lr`` to ``config.min_lr`` as ``progress`` (fraction of the post-warm-up budget used,
    clamped to [0, 1]) goes from 0 to 1.
    """
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    p = min(max(progress, 0.0), 1.0)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * p))


def resolve_amp_dtype(amp_dtype: str | None, device: torch.device | str) -> str | None:
    """The autocast dtype actually used on ``device``: ``"auto"`` becomes ``"bfloat16"`` where the hardware
    computes bfloat16 natively, else ``None`` (float32); other values are returned unchanged.

    Native means a CUDA GPU that reports bf16 support, or a CPU with AMX tiles or AVX-512 BF16 (recent
    Xeons, where oneDNN's bf16 LSTM and matmuls run several times faster than float32, see
    benchmarks/README.md). Elsewhere (older GPUs such as a T4, laptops, Apple MPS) bf16 would be
    emulated or unsupported, so "auto" keeps float32 there.
    """
    if amp_dtype != "auto":
        return amp_dtype
    device = torch.device(device)
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else None
    return "bfloat16" if device.type == "cpu" and _cpu_has_bf16() else None


def _cpu_has_bf16() -> bool:
    # private helpers (torch >= 2.3); an older torch just keeps float32
    native = [getattr(torch.cpu, name, lambda: False) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(f() for f in native)


def _autocast(device: torch.device, amp_dtype: str | None):
    amp_dtype = resolve_amp_dtype(amp_dtype, device)
    if amp_dtype == "bfloat16" and device.type == "cpu" and not _cpu_has_bf16():
        # oneDNN cannot build a bf16 nn.LSTM there: say so instead of its "could not create a primitive descriptor"
        raise ValueError("amp_dtype='bfloat16': expected a CPU with AMX or AVX-512 BF16, got one with neither; "
                         "use amp_dtype='auto' (float32 on this CPU) or None")
    if amp_dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[amp_dtype])


def _loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    # (B, T, V) → (B*T, V); a half-precision autocast forward still gets a float32 log-softmax
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction=reduction)


def _check_ids(ids: Any, name: str) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype != torch.long:
        got = f"{type(ids).__name__}" if not isinstance(ids, torch.Tensor) else f"{ids.dtype} tensor of shape {tuple(ids.shape)}"
        raise ValueError(f"{name}: expected a 1-D LongTensor of token ids (N,), got {got}")


@torch.no_grad()
def evaluate_lm(model: nn.Module, ids: torch.Tensor, batch_size: int = 16, bptt: int = 256,
                device: torch.device | str | None = None, max_batches: int | None = None,
                amp_dtype: str | None = None) -> float:
    """Mean cross-entropy in nats per predicted character of ``model`` on ``ids``.

    The text is cut into ``batch_size`` contiguous streams (fewer if the text is short) and read in
    chunks of ``bptt`` characters, carrying the state from each chunk to the next, so each stream
    is scored as one long sequence. The model is put in eval mode and its previous mode restored.

    Args:
        model: ``model(x (B, T), state) -> (logits (B, T, V), state)``.
        ids: LongTensor (N,), N >= 2.
        batch_size: number of streams B. Default: 16.
        bptt: chunk length T. Default: 256.
        device: where to run; ``None`` = the model's device. Default: ``None``.
        max_batches: score only the first this many chunks (``None`` = the whole text). Default: ``None``.
        amp_dtype: ``"bfloat16"``, ``"auto"`` or ``None``, as in :class:`TrainConfig`. Default: ``None``.
    """
    _check_ids(ids, "evaluate_lm")
    if ids.numel() < 2:
        raise ValueError(f"evaluate_lm: expected at least 2 token ids, got {ids.numel()}")
    if batch_size < 1 or bptt < 1:
        raise ValueError(f"evaluate_lm: expected batch_size >= 1 and bptt >= 1, got {batch_size} and {bptt}")
    device = torch.device(device) if device is not None else model_device(model)
    batch_size = min(batch_size, ids.numel() // 2)  # a short text still gets scored, with fewer streams
    streams = batchify(ids, batch_size).to(device)  # (B, L)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count, state = 0, None
    try:
        for k, (x, y) in enumerate(tbptt_batches(streams, bptt)):
            if max_batches is not None and k >= max_batches:
                break
            with _autocast(device, amp_dtype):
                logits, state = model(x, state)  # (B, T, V)
            total += _loss(logits, y, reduction="sum")
            count += y.numel()
    finally:
        model.train(was_training)
    return total.item() / count


def train_lm(model: nn.Module, train_ids: torch.Tensor, val_ids: torch.Tensor | None, config: TrainConfig,
             progress: bool = True, device: torch.device | str | None = None,
             on_eval: Callable[[int, float], bool | None] | None = None) -> History:
    """Train ``model`` as a character language model with TBPTT; return the :class:`History`.

    Args:
        model: ``model(x (B, T), state) -> (logits (B, T, V), state)``; ``state=None`` means zeros.
        train_ids: LongTensor (N,) of token ids, N >= 2 * batch_size.
        val_ids: LongTensor (M,) or ``None`` (no validation).
        config: a :class:`TrainConfig`.
        progress: show a tqdm progress bar. Default: True.
        device: move the model there first; ``None`` = leave it where it is. Default: ``None``.
        on_eval: called as ``on_eval(step, val_loss)`` after each evaluation; returning ``True`` stops
            training (e.g. early stopping). Default: ``None``.

    Each epoch (one pass over the streams) starts from a zero state; epochs after the first start
    at a random offset in [0, bptt) so chunk boundaries move.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train_lm: expected config to be a TrainConfig, got {type(config).__name__}")
    _check_ids(train_ids, "train_lm train_ids")
    if val_ids is not None:
        _check_ids(val_ids, "train_lm val_ids")
    if device is not None:
        model.to(device)
    device = model_device(model)
    torch.manual_seed(config.seed)
    offsets = torch.Generator().manual_seed(config.seed)

    streams = batchify(train_ids, config.batch_size).to(device)  # (B, L); ValueError if the text is too short
    chunks_per_epoch = math.ceil((streams.size(1) - 1) / config.bptt)
    max_steps = config.max_steps
    if max_steps is None and config.max_seconds is None:
        max_steps = chunks_per_epoch

    params = [p for p in model.parameters() if p.requires_grad]
    # bfloat16 Newton-Schulz products where training runs in bfloat16: they are most of Muon's cost
    ns_dtype = _AMP_DTYPES.get(resolve_amp_dtype(config.amp_dtype, device) or "")
    optimizers = build_optimizers(model, params, config, ns_dtype)
    history = History()
    pending: list[tuple[int, torch.Tensor, torch.Tensor, float, float]] = []
    bar = tqdm(total=max_steps, disable=not progress, desc="train", unit="step", dynamic_ncols=True)

    def flush() -> None:
        # one device→host copy for many steps instead of a sync per step
        if not pending:
            return
        values = torch.stack([torch.stack([l, n]) for _, l, n, _, _ in pending]).tolist()
        for (s, _, _, lr, sec), (loss, norm) in zip(pending, values):
            history.step.append(s)
            history.train_loss.append(loss)
            history.grad_norm.append(norm)
            history.lr.append(lr)
            history.seconds.append(sec)
        pending.clear()
        postfix = {"loss": f"{history.train_loss[-1]:.3f}", "lr": f"{history.lr[-1]:.2e}"}
        if history.val_loss:
            postfix["val"] = f"{history.val_loss[-1]:.3f}"
        bar.set_postfix(postfix, refresh=False)

    def evaluate(step: int) -> bool:
        flush()
        val = evaluate_lm(model, val_ids, config.batch_size, config.bptt, device,
                          max_batches=config.eval_batches, amp_dtype=config.amp_dtype)
        history.val_loss.append(val)
        history.val_step.append(step)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{val:.3f}", refresh=False)
        return bool(on_eval(step, val)) if on_eval is not None else False

    model.train()
    step, stop, epoch = 0, False, 0
    start = time.perf_counter()
    warmup_end_seconds: float | None = None
    try:
        while not stop:
            offset = 0 if epoch == 0 else int(torch.randint(config.bptt, (1,), generator=offsets))
            epoch_streams = streams[:, offset:] if streams.size(1) - offset >= 2 else streams
            state = None
            for x, y in tbptt_batches(epoch_streams, config.bptt):  # (B, T), (B, T)
                elapsed = time.perf_counter() - start
                if step == config.warmup_steps:
                    warmup_end_seconds = elapsed
                fracs = []
                if max_steps is not None:
                    # the last step (step == max_steps - 1) gets exactly min_lr
                    fracs.append((step - config.warmup_steps) / max(1, max_steps - config.warmup_steps - 1))
                if config.max_seconds is not None and warmup_end_seconds is not None:
                    fracs.append((elapsed - warmup_end_seconds) / max(1e-9, config.max_seconds - warmup_end_seconds))
                lr = lr_at(step, config, max(fracs) if fracs else 0.0)
                for optimizer in optimizers:
                    for group in optimizer.param_groups:
                        group["lr"] = lr * group["lr_scale"]

                if not config.carry_state:
                    state = None
                elif config.detach:
                    state = detach_state(state)
                with _autocast(device, config.amp_dtype):
                    logits, state = model(x, state)  # (B, T, V)
                loss = _loss(logits, y)
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # clip_grad_norm_ returns the total norm *before* clipping; max_norm=inf only measures it
                norm = nn.utils.clip_grad_norm_(params, config.clip if config.clip is not None else math.inf)
                for optimizer in optimizers:
                    optimizer.step()

                step += 1
                seconds = time.perf_counter() - start
                pending.append((step, loss.detach(), norm.detach(), lr, seconds))
                if len(pending) >= 10:
                    flush()
                bar.update(1)
                out_of_time = config.max_seconds is not None and seconds >= config.max_seconds
                stop = out_of_time or (max_steps is not None and step >= max_steps)
                if val_ids is not None and (step % config.eval_every == 0 or stop):
                    stop = evaluate(step) or stop
                if stop:
                    break
            epoch += 1
    except KeyboardInterrupt:
        # Ctrl-C in a notebook or terminal ends training early but keeps the model and what was measured
        bar.write(f"train_lm: interrupted after {step} steps")
    finally:
        bar.close()
    flush()
    return history
