"""The course's LSTM models: a character language model, a sequence classifier, a tagger.

Each model is a thin wrapper around ``nn.LSTM`` (cuDNN/oneDNN kernels, no Python time loop);
the hand-written cell that explains what ``nn.LSTM`` computes lives in :mod:`lstm_course.cell`.

Legend: B batch, T time steps, V vocabulary size, E embedding size, H hidden size, C classes/tags.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_course.cell import init_forget_bias

State = tuple[Tensor, Tensor]


def _check_ids(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected {name} of shape (B, T), got {shape}")
    if x.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"expected integer token ids in {name}, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"expected sequence length T >= 1, got {name} of shape {tuple(x.shape)}")


# --- character language model --------------------------------------------------------------------

@dataclass
class CharLMConfig:
    """Hyper-parameters of :class:`CharLM` (all have defaults; ``vocab_size`` must be set).

    Args:
        vocab_size: V, number of distinct characters. Default: 0 (must be set before building).
        embed_dim: E, size of the character embedding. Default: 64.
        hidden_size: H, LSTM hidden size. Default: 256.
        num_layers: stacked LSTM layers. Default: 2.
        dropout: dropout between LSTM layers and before the output layer (0 disables). Default: 0.0.
        tie_weights: share the embedding matrix with the output layer (needs embed_dim == hidden_size).
            Default: ``False``.
        forget_bias: initial forget-gate bias, see :func:`lstm_course.cell.init_forget_bias`. Default: 1.0.
    """

    vocab_size: int = 0
    embed_dim: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    forget_bias: float = 1.0

    @classmethod
    def tiny(cls, vocab_size: int) -> "CharLMConfig":
        """A model small enough for unit tests and CPU smoke runs (seconds)."""
        return cls(vocab_size=vocab_size, embed_dim=16, hidden_size=32, num_layers=1, dropout=0.0)

    @classmethod
    def shakespeare(cls, vocab_size: int) -> "CharLMConfig":
        """The course default for the Shakespeare corpus: 1 x 384, no dropout (chosen with benchmarks/charlm.py:
        in a 3-minute CPU budget, one wide layer beat two narrower ones held out at the same number of steps,
        dropout cost steps and held-out loss alike, and on a CPU without bf16 units 1 x 384 beat 1 x 512 and
        1 x 640, which get fewer steps. On a CPU with AMX, 1 x 640 scores better in the same budget, and on one
        with AVX-512 BF16, 1 x 512 at lr 2e-2 was within the seeds' noise of 1 x 384; one default for every machine
        keeps the book's figures comparable; see benchmarks/README.md)."""
        return cls(vocab_size=vocab_size, embed_dim=64, hidden_size=384, num_layers=1, dropout=0.0)

    def validate(self) -> None:
        """Raise ``ValueError`` ("expected …, got …") for impossible settings."""
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"expected {name} to be a positive int, got {v!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"expected 0 <= dropout < 1, got {self.dropout!r}")
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError("expected embed_dim == hidden_size with tie_weights=True, "
                             f"got embed_dim={self.embed_dim}, hidden_size={self.hidden_size}")


class CharLM(nn.Module):
    """Character language model: embedding → ``nn.LSTM`` (batch_first) → dropout → linear to V.

    Args:
        config: a :class:`CharLMConfig` with ``vocab_size`` set.

    Shapes:
        forward(x, state=None): x (B, T) token ids on the model's device; state ``(h, c)``, each
        (num_layers, B, H), or ``None`` for zeros. Returns ``(logits (B, T, V), (h_n, c_n))``;
        pass the returned state (detached) to the next chunk to carry it through a long text.
    """

    def __init__(self, config: CharLMConfig) -> None:
        super().__init__()
        if not isinstance(config, CharLMConfig):
            raise ValueError(f"expected a CharLMConfig, got {type(config).__name__}")
        config.validate()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        # nn.LSTM's own dropout acts between layers only, so it is 0 for a single layer.
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_size, num_layers=config.num_layers,
                            batch_first=True, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embed.weight
        init_forget_bias(self.lstm, config.forget_bias)

    def forward(self, x: Tensor, state: Optional[State] = None) -> tuple[Tensor, State]:
        _check_ids(x)
        if state is not None:
            L, B, H = self.config.num_layers, x.shape[0], self.config.hidden_size
            if (not isinstance(state, (tuple, list)) or len(state) != 2
                    or any(tuple(s.shape) != (L, B, H) for s in state)):
                got = [tuple(s.shape) for s in state] if isinstance(state, (tuple, list)) else type(state).__name__
                raise ValueError(f"expected state (h, c) each of shape (num_layers, B, H) = ({L}, {B}, {H}), got {got}")
            state = tuple(state)
        emb = self.embed(x)  # (B, T, E)
        out, state = self.lstm(emb, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state

    def num_parameters(self) -> int:
        """Number of distinct trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    def matrix_blocks(self) -> list[tuple[nn.Parameter, int]]:
        """The LSTM's weight matrices with the number of gate blocks each stacks, for
        :class:`lstm_course.optim.Muon` (``TrainConfig(optimizer="muon")``): ``weight_ih_l{k}`` (4H, E or H) and
        ``weight_hh_l{k}`` (4H, H) stack the i, f, g, o gates, so 4 blocks each."""
        return [(w, 4) for name, w in self.lstm.named_parameters() if name.startswith(("weight_ih", "weight_hh"))]


# --- chapter 1: RNN vs LSTM on a long-range task -------------------------------------------------

class SequenceClassifier(nn.Module):
    """Embedding → one recurrent layer (``nn.RNN`` or ``nn.LSTM``) → linear on the last time step.

    Args:
        vocab_size: V, number of input symbols.
        num_classes: C.
        hidden_size: H. Default: 64.
        embed_dim: E. Default: 16.
        cell: ``"lstm"`` or ``"rnn"`` (tanh Elman RNN). Default: ``"lstm"``.

    Shapes:
        forward(x): x (B, T) token ids → logits (B, C).
    """

    def __init__(self, vocab_size: int, num_classes: int, hidden_size: int = 64, embed_dim: int = 16,
                 cell: str = "lstm") -> None:
        super().__init__()
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"expected cell 'lstm' or 'rnn', got {cell!r}")
        for name, v in (("vocab_size", vocab_size), ("num_classes", num_classes),
                        ("hidden_size", hidden_size), ("embed_dim", embed_dim)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"expected {name} to be a positive int, got {v!r}")
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, embed_dim)
        rnn_cls = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = rnn_cls(embed_dim, hidden_size, batch_first=True)
        if cell == "lstm":
            init_forget_bias(self.rnn, 1.0)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        _check_ids(x)
        out, _ = self.rnn(self.embed(x))  # (B, T, H)
        return self.head(out[:, -1])  # (B, C)


# --- tagging with packed sequences ---------------------------------------------------------------

class Tagger(nn.Module):
    """(Bi)directional LSTM sequence tagger over padded batches, using packed sequences.

    Packing makes the LSTM skip the padding: the backward direction starts at each sequence's
    true last token, so a padded batch gives the same outputs as running each sequence alone.

    Args:
        vocab_size: number of word ids (including ``pad_id``).
        num_tags: C.
        embed_dim: E. Default: 64.
        hidden_size: H per direction. Default: 128.
        num_layers: stacked LSTM layers. Default: 1.
        bidirectional: read the sentence both ways. Default: ``True``.
        dropout: dropout on embeddings, between layers and before the output layer. Default: 0.0.
        pad_id: the padding word id (its embedding stays zero). Default: 0.

    Shapes:
        forward(x, lengths): x (B, T) padded ids, lengths (B,) true lengths (1 <= length <= T, any
        order, any device) → logits (B, T, C); positions past a sequence's length are padding.
        loss(logits, tags): tags (B, T) with padding marked -100 → scalar mean cross-entropy
        over real tokens only.
    """

    IGNORE_INDEX = -100

    def __init__(self, vocab_size: int, num_tags: int, embed_dim: int = 64, hidden_size: int = 128,
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0, pad_id: int = 0) -> None:
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"expected 0 <= pad_id < vocab_size = {vocab_size}, got {pad_id}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"expected 0 <= dropout < 1, got {dropout!r}")
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        init_forget_bias(self.lstm, 1.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_tags)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        _check_ids(x)
        B, T = x.shape
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (B,):
            raise ValueError(f"expected lengths of shape (B,) = ({B},), got {tuple(lengths.shape)}")
        # pack_padded_sequence wants lengths on the host, whatever the model's device: rebuild from a list.
        lengths = torch.tensor(lengths.tolist(), dtype=torch.int64)
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"expected 1 <= lengths <= T = {T}, got min {int(lengths.min())}, max {int(lengths.max())}")
        emb = self.drop(self.embed(x))  # (B, T, E)
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H * directions)
        return self.head(self.drop(out))  # (B, T, C)

    def loss(self, logits: Tensor, tags: Tensor) -> Tensor:
        """Mean cross-entropy over the non-padding positions (tags == -100 are ignored)."""
        if logits.dim() != 3 or tags.shape != logits.shape[:2]:
            raise ValueError(f"expected logits (B, T, C) and tags (B, T), got {tuple(logits.shape)} and {tuple(tags.shape)}")
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1),
                               ignore_index=self.IGNORE_INDEX)
