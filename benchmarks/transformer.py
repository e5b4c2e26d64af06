"""A small decoder-only character transformer: the peer the LSTM default is measured against (not course code).

Written here in the style of nanoGPT's ``model.py`` (learned positions, pre-norm blocks, causal self-attention
through ``F.scaled_dot_product_attention``, GELU MLP, output layer tied to the token embedding, GPT-2's
initialisation) so that ``benchmarks/peer.py`` can train it with the course's own ``train_lm`` — same optimiser,
schedule, clipping, autocast and time budget as the LSTM — and compare held-out nats per character.

``CharTransformer.forward(x, state)`` takes and returns a ``state`` only to fit ``train_lm``'s model contract
``model(x (B, T), state) -> (logits (B, T, V), state)``: a transformer has none, so it always returns ``None``
and each chunk of T characters is read from scratch (the context is the chunk).

Symbols: B batch, T time steps (<= ``block_size``), D model width (``n_embd``), V vocabulary size,
nh attention heads.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

import _common  # noqa: F401  (puts the checkout on sys.path)
from lstm_course.training import TrainConfig


@dataclasses.dataclass
class GPTConfig:
    """Hyper-parameters of :class:`CharTransformer`.

    Args:
        vocab_size: V. Default: 0 (must be set).
        block_size: longest context T the position table holds (the training chunk length). Default: 128.
        n_layer: transformer blocks. Default: 4.
        n_head: attention heads per block (must divide ``n_embd``). Default: 4.
        n_embd: model width D. Default: 192.
        dropout: on attention weights, residual branches and embeddings (0 disables). Default: 0.0.
        bias: biases in the linear layers and LayerNorms (nanoGPT's default is without). Default: ``False``.
    """

    vocab_size: int = 0
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 192
    dropout: float = 0.0
    bias: bool = False

    def __post_init__(self) -> None:
        for name in ("block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"GPTConfig: expected {name} to be a positive int, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: expected n_head to divide n_embd, got n_embd={self.n_embd}, "
                             f"n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: expected 0 <= dropout < 1, got {self.dropout!r}")

    @classmethod
    def cpu_180s(cls, vocab_size: int) -> "GPTConfig":
        """The preset tuned for 180 s on 2 CPU cores (the sweep is in benchmarks/README.md): 2 x 128, context 64.

        Smaller and shallower won in that budget: more optimiser steps mattered more than depth, width or context."""
        return cls(vocab_size=vocab_size, block_size=64, n_layer=2, n_head=4, n_embd=128, dropout=0.0)


def train_config_cpu_180s(max_seconds: float | None = None, seed: int = 0) -> TrainConfig:
    """``train_lm`` settings for :meth:`GPTConfig.cpu_180s`: T = the block size, the rest chosen by the sweep
    (since rows t14-t17: Muon for the blocks' matrices, at twice the lr)."""
    return TrainConfig(batch_size=32, bptt=64, lr=5e-3, warmup_steps=100, weight_decay=0.1, clip=1.0,
                       betas=(0.9, 0.99), optimizer="muon", muon_lr_scale=2.0, max_seconds=max_seconds, seed=seed)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)  # 3 x (B, T, D)
        q, k, v = (t.view(B, T, self.n_head, D // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, D/nh)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, D/nh)
        y = y.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))  # (B, T, 4D) inside


class Block(nn.Module):
    """Pre-norm: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """Token + position embeddings → ``n_layer`` blocks → LayerNorm → linear to V (weights tied to the embedding)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.vocab_size < 1:
            raise ValueError(f"CharTransformer: expected vocab_size >= 1, got {cfg.vocab_size}")
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tying, as nanoGPT: fewer parameters, and it trains faster
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):  # GPT-2: residual projections scaled down with depth
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # the tied matrix counts once

    def matrix_blocks(self) -> list[tuple[nn.Parameter, int]]:
        """The blocks' weight matrices for ``TrainConfig(optimizer="muon")``: the stacked (3D, D) query/key/value
        matrix as 3 blocks (q, k and v are three maps, as an LSTM's gates are four), the others as one each. The tied
        embedding/output matrix and the position embeddings stay with AdamW."""
        return [(m.weight, 3 if m is block.attn.qkv else 1) for block in self.blocks
                for m in (block.attn.qkv, block.attn.proj, block.mlp.fc, block.mlp.proj)]

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        """``x`` (B, T) character ids, T <= block_size → (logits (B, T, V), ``None``); ``state`` is ignored."""
        B, T = x.shape
        if T > self.config.block_size:
            raise ValueError(f"CharTransformer: expected at most block_size={self.config.block_size} time steps, "
                             f"got {T}")
        pos = torch.arange(T, device=x.device)  # (T,)
        h = self.drop(self.tok_emb(x) + self.pos_emb(pos))  # (B, T, D)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h)), None  # (B, T, V)
