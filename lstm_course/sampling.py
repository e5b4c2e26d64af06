"""Turning a language model's logits into text: temperature, top-k, top-p, greedy and beam search.

Every function here works with any model called as ``model(x (B, T), state) -> (logits (B, T, V), state)``
whose state is ``None`` or nn.LSTM's ``(h, c)``, each (num_layers, B, H). Generation feeds the
prompt once and then each new token once, carrying the state, so its cost is linear in the
generated length (re-feeding the whole text at every step would make it quadratic).

Legend: B batch, P prompt length, V vocabulary size.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_course.device import model_device, step_by_step_kernels
from lstm_course.vocab import CharVocab

Prompt = Union[Sequence[int], Tensor]


def _check_sampling_args(temperature: float, top_k: Optional[int], top_p: Optional[float]) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"expected a finite temperature >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"expected top_k to be None or an int >= 1, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0.0 < top_p <= 1.0):
        raise ValueError(f"expected top_p to be None or in (0, 1], got {top_p!r}")


def filter_logits(logits: Tensor, top_k: Optional[int] = None, top_p: Optional[float] = None) -> Tensor:
    """Set the logits outside the top-k set / top-p nucleus to -inf (along the last dim).

    top-k keeps every token whose logit is >= the k-th largest, so ties at the k-th value are all
    kept. top-p keeps the smallest set of most probable tokens whose mass reaches ``top_p``,
    including the token that crosses the threshold (so at least one token always survives).
    """
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        probs = torch.softmax(logits, dim=-1)
        sorted_p, order = torch.sort(probs, dim=-1, descending=True)  # (..., V)
        mass_before = torch.cumsum(sorted_p, dim=-1) - sorted_p
        keep_sorted = mass_before < top_p  # the first token always has mass_before == 0
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        logits = logits.masked_fill(~keep, float("-inf"))
    return logits


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: Optional[int] = None,
                top_p: Optional[float] = None, generator: Optional[torch.Generator] = None) -> Tensor:
    """Draw the next token id from logits.

    Args:
        logits: (V,) or (B, V) unnormalised scores; -inf marks forbidden tokens (never drawn).
        temperature: divides the logits; 0 means greedy (argmax, first index on ties). Default: 1.0.
        top_k: keep only the k most likely tokens (ties at the k-th value kept). Default: ``None``.
        top_p: keep the nucleus of probability mass ``top_p`` (crossing token kept). Default: ``None``.
        generator: a ``torch.Generator`` for reproducible draws; sampling happens on its device.
            Default: ``None`` (global RNG).

    Returns:
        LongTensor: 0-d for (V,) input, (B,) for (B, V) input.
    """
    _check_sampling_args(temperature, top_k, top_p)
    if not isinstance(logits, Tensor) or logits.dim() not in (1, 2) or not logits.is_floating_point():
        got = f"{tuple(logits.shape)} {logits.dtype}" if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"expected floating-point logits of shape (V,) or (B, V), got {got}")
    if logits.shape[-1] == 0:
        raise ValueError("expected at least one logit, got V = 0")
    if torch.isnan(logits).any():
        raise ValueError("expected logits without NaN, got NaN")
    if (logits == float("inf")).any():  # softmax would turn +inf into NaN probabilities
        raise ValueError("expected finite logits (or -inf for forbidden tokens), got +inf")
    if (logits == float("-inf")).all(dim=-1).any():
        raise ValueError("expected at least one finite logit per row, got all -inf")
    single = logits.dim() == 1
    x = logits.float().reshape(-1, logits.shape[-1])  # (B, V)
    if temperature == 0:
        out = x.argmax(dim=-1)
    else:
        x = filter_logits(x / temperature, top_k, top_p)
        probs = torch.softmax(x, dim=-1)  # (B, V); -inf -> probability exactly 0
        if generator is not None and probs.device != generator.device:
            probs = probs.to(generator.device)
        out = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)
    return out[0] if single else out


def _vocab_size(model: nn.Module) -> Optional[int]:
    # the input vocabulary is the first embedding's size; a model without one checks its own inputs
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m.num_embeddings
    return None


def _as_prompt(prompt: Prompt, model: nn.Module) -> Tensor:
    # no dtype here: a list holding 2.7 must be refused below, not truncated to token 2
    p = torch.as_tensor(prompt) if not isinstance(prompt, Tensor) else prompt
    if p.dim() != 1 or p.numel() == 0:
        raise ValueError(f"expected a non-empty 1-D prompt of token ids (P,), got shape {tuple(p.shape)}")
    if p.is_floating_point():
        raise ValueError(f"expected integer token ids in the prompt, got dtype {p.dtype}")
    # else the embedding fails deep inside torch with "index out of range in self"
    V = _vocab_size(model)
    bad = (p < 0) if V is None else (p < 0) | (p >= V)  # (P,)
    if bad.any():
        k = int(bad.nonzero()[0])
        want = "ids >= 0" if V is None else f"ids in [0, {V}) (the model's vocabulary size)"
        raise ValueError(f"expected prompt {want}, got {int(p[k])} at position {k}")
    return p.to(device=model_device(model), dtype=torch.long)


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"expected length to be an int >= 0, got {length!r}")


@torch.no_grad()
def generate(model: nn.Module, prompt: Prompt, length: int, temperature: float = 1.0,
             top_k: Optional[int] = None, top_p: Optional[float] = None,
             generator: Optional[torch.Generator] = None) -> Tensor:
    """Continue ``prompt`` by ``length`` sampled tokens, feeding each token through the model once.

    The model runs in eval mode (no dropout) and is put back into its previous mode afterwards.

    Args:
        model: ``model(x (1, T), state) -> (logits (1, T, V), state)``.
        prompt: the conditioning token ids, a non-empty list or LongTensor (P,).
        length: number of new tokens (>= 0).
        temperature, top_k, top_p, generator: as in :func:`sample_next`.

    Returns:
        LongTensor (length,) on the CPU: the new tokens only (not the prompt).
    """
    _check_sampling_args(temperature, top_k, top_p)
    _check_length(length)
    p = _as_prompt(prompt, model)
    was_training = model.training
    model.eval()
    try:
        out: list[int] = []
        if length == 0:
            return torch.zeros(0, dtype=torch.long)
        logits, state = model(p.unsqueeze(0), None)  # (1, P, V)
        with step_by_step_kernels(p.device):  # one token per call: ATen's CPU LSTM is faster there
            for step in range(length):
                tok = sample_next(logits[0, -1], temperature, top_k, top_p, generator)
                out.append(int(tok))
                if step < length - 1:  # the last token needs no forward pass
                    logits, state = model(tok.view(1, 1).to(p.device), state)  # (1, 1, V)
        return torch.tensor(out, dtype=torch.long)
    finally:
        model.train(was_training)


def generate_text(model: nn.Module, vocab: CharVocab, prompt: str, length: int, **sampling_kwargs: Any) -> str:
    """:func:`generate` for text: encode ``prompt`` with ``vocab``, return only the new text.

    Args:
        model: a character language model (see :func:`generate`).
        vocab: a ``CharVocab``, or anything with ``encode(str) -> ids`` and ``decode(ids) -> str``.
        prompt: non-empty start text; every character must be in the vocabulary.
        length: number of new characters.
        **sampling_kwargs: ``temperature``, ``top_k``, ``top_p``, ``generator``.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"expected a non-empty prompt string, got {prompt!r}")
    return vocab.decode(generate(model, vocab.encode(prompt), length, **sampling_kwargs))


def _reorder_state(state: Any, index: Tensor) -> Any:
    # nn.LSTM state tensors are (num_layers, B, H): the beam/batch dimension is 1.
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(1, index)
    return type(state)(_reorder_state(s, index) for s in state)


@torch.no_grad()
def beam_search(model: nn.Module, prompt: Prompt, length: int, beam_size: int = 5) -> Tensor:
    """The continuation of exactly ``length`` tokens with the highest total log-probability
    that a beam of ``beam_size`` hypotheses finds (beam_size=1 is greedy decoding).

    All hypotheses have the same length, so no length normalisation is needed. The beams run as
    one batch of size ``beam_size``; the state is reordered to follow the surviving hypotheses.

    Args:
        model, prompt, length: as in :func:`generate`.
        beam_size: number of hypotheses kept after each step (>= 1). Default: 5.

    Returns:
        LongTensor (length,) on the CPU.
    """
    _check_length(length)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"expected beam_size to be an int >= 1, got {beam_size!r}")
    p = _as_prompt(prompt, model)
    if length == 0:
        return torch.zeros(0, dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        logits, state = model(p.unsqueeze(0), None)  # (1, P, V)
        last = logits[:, -1].float()  # (K, V), K = 1 live hypothesis so far
        scores = torch.zeros(1, device=p.device)  # (K,)
        seqs = torch.zeros(1, 0, dtype=torch.long, device=p.device)  # (K, t)
        with step_by_step_kernels(p.device):  # one token per hypothesis per call, as in generate
            for step in range(length):
                V = last.shape[-1]
                cand = (scores[:, None] + F.log_softmax(last, dim=-1)).reshape(-1)  # (K * V,)
                k = min(beam_size, int(torch.isfinite(cand).sum()) or 1)
                scores, flat = torch.topk(cand, k)  # (K',)
                beam, tok = flat // V, flat % V
                seqs = torch.cat([seqs[beam], tok[:, None]], dim=1)  # (K', t + 1)
                if step < length - 1:
                    logits, state = model(tok[:, None], _reorder_state(state, beam))  # (K', 1, V)
                    last = logits[:, -1].float()
        return torch.tensor(seqs[0].tolist(), dtype=torch.long)  # topk sorts: hypothesis 0 scores highest
    finally:
        model.train(was_training)


@torch.no_grad()
def model_loss_on(model: nn.Module, ids: Prompt, chunk: int = 1024) -> float:
    """The model's own mean cross-entropy (nats per token) on a sequence: how surprised it is by
    ``ids[1:]`` given what came before. Low values on its own samples mean safe, repetitive text.

    Args:
        model: see :func:`generate`.
        ids: token ids (N,), N >= 2.
        chunk: tokens per forward pass, the state carried between chunks (bounds memory). Default: 1024.
    """
    p = torch.as_tensor(ids) if not isinstance(ids, Tensor) else ids
    if p.dim() != 1 or p.numel() < 2:
        raise ValueError(f"expected a 1-D sequence of at least 2 token ids, got shape {tuple(p.shape)}")
    p = _as_prompt(p, model)
    was_training = model.training
    model.eval()
    try:
        state, total = None, 0.0
        x, y = p[:-1], p[1:]
        for i in range(0, x.numel(), chunk):
            logits, state = model(x[i:i + chunk].unsqueeze(0), state)  # (1, t, V)
            total += F.cross_entropy(logits[0].float(), y[i:i + chunk], reduction="sum").item()
        return total / y.numel()
    finally:
        model.train(was_training)
