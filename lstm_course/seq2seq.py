"""An LSTM encoder–decoder with Luong attention: teacher forcing, greedy and beam decoding.

Token ids. Three special ids come first in both target and source id spaces: ``PAD_ID = 0``,
``SOS_ID = 1`` (start of the target), ``EOS_ID = 2`` (end of the target); a character with id ``k``
in a :class:`~lstm_course.vocab.CharVocab` has model id ``k + NUM_SPECIAL``. So a model for
vocabularies ``src_vocab``/``tgt_vocab`` has ``len(vocab) + NUM_SPECIAL`` ids on each side;
:func:`make_batch` and :func:`ids_to_text` do the shifting.

Model. The encoder LSTM reads the (packed) source; its final state starts the decoder LSTM. At
every target step the decoder output ``h_t`` attends over the encoder outputs ``e_s`` (Luong et
al., 2015): ``score(h_t, e_s) = h_t · e_s`` ("dot") or ``h_t · W_a e_s`` ("general"), softmax over
the real source positions, context ``c_t = Σ_s a_ts e_s``, ``h~_t = tanh(W_c [c_t; h_t])``, logits
``= W_o h~_t``. With ``attention=None`` the logits come from ``h_t`` alone (the plain
encoder–decoder, which must squeeze the whole source into one state).

Legend: B batch, S source length, T target length, E embedding size, H hidden size, V target ids.
"""
from __future__ import annotations

import math
import time
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from tqdm.auto import tqdm

from lstm_course.cell import init_forget_bias
from lstm_course.device import model_device
from lstm_course.vocab import CharVocab

PAD_ID, SOS_ID, EOS_ID = 0, 1, 2
NUM_SPECIAL = 3
IGNORE_INDEX = -100
State = tuple[Tensor, Tensor]


class Seq2Seq(nn.Module):
    """LSTM encoder–decoder (see the module docstring for the equations).

    Args:
        src_vocab_size: number of source ids (characters + NUM_SPECIAL).
        tgt_vocab_size: V, number of target ids (characters + NUM_SPECIAL).
        embed_dim: E. Default: 32.
        hidden_size: H (encoder and decoder). Default: 128.
        num_layers: LSTM layers in encoder and decoder. Default: 1.
        sos_id, eos_id, pad_id: special ids. Defaults: 1, 2, 0.
        attention: ``"dot"``, ``"general"`` or ``None``. Default: ``"general"``.
        dropout: on embeddings and before the output layer. Default: 0.0.

    Shapes:
        forward(src (B, S), src_lengths (B,), tgt_in (B, T)) -> logits (B, T, V), teacher forcing:
        ``tgt_in`` is the target shifted right (starts with SOS). Decoding returns lists of ids
        without SOS and EOS.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 1, sos_id: int = SOS_ID, eos_id: int = EOS_ID, pad_id: int = PAD_ID,
                 attention: Optional[str] = "general", dropout: float = 0.0) -> None:
        super().__init__()
        if attention not in ("dot", "general", None):
            raise ValueError(f"expected attention 'dot', 'general' or None, got {attention!r}")
        for name, v in (("sos_id", sos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
            if not 0 <= v < min(src_vocab_size, tgt_vocab_size):
                raise ValueError(f"expected 0 <= {name} < vocabulary sizes, got {v}")
        self.sos_id, self.eos_id, self.pad_id, self.attention = sos_id, eos_id, pad_id, attention
        H = hidden_size
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_id)
        self.encoder = nn.LSTM(embed_dim, H, num_layers=num_layers, batch_first=True)
        self.decoder = nn.LSTM(embed_dim, H, num_layers=num_layers, batch_first=True)
        init_forget_bias(self.encoder, 1.0)
        init_forget_bias(self.decoder, 1.0)
        self.W_a = nn.Linear(H, H, bias=False) if attention == "general" else None
        self.W_c = nn.Linear(2 * H, H) if attention else None
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(H, tgt_vocab_size)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        """Run the encoder over a padded batch.

        Args:
            src: (B, S) padded source ids.
            src_lengths: (B,) true lengths, 1 <= length <= S, on any device.

        Returns:
            ``(enc_out (B, S, H), mask (B, S) True at real positions, (h_n, c_n) each (num_layers, B, H))``.
        """
        if src.dim() != 2 or src.shape[1] == 0:
            raise ValueError(f"expected src of shape (B, S) with S >= 1, got {tuple(src.shape)}")
        B, S = src.shape
        lengths = torch.as_tensor(src_lengths)
        lengths = torch.tensor(lengths.tolist(), dtype=torch.int64).reshape(lengths.shape)  # packing wants host lengths
        if lengths.shape != (B,) or lengths.min() < 1 or lengths.max() > S:
            raise ValueError(f"expected src_lengths (B,) = ({B},) with 1 <= length <= S = {S}, got {lengths.tolist()}")
        src = src.to(model_device(self))
        packed = pack_padded_sequence(self.drop(self.src_embed(src)), lengths, batch_first=True, enforce_sorted=False)
        enc_out, state = self.encoder(packed)
        enc_out, _ = pad_packed_sequence(enc_out, batch_first=True, total_length=S)  # (B, S, H)
        mask = torch.arange(S, device=src.device)[None, :] < lengths.to(src.device)[:, None]  # (B, S)
        return enc_out, mask, state

    def _decode(self, tgt_in: Tensor, state: State, enc_out: Tensor, mask: Tensor) -> tuple[Tensor, State]:
        dec_out, state = self.decoder(self.drop(self.tgt_embed(tgt_in)), state)  # (B, T, H)
        if self.attention is None:
            return self.out(self.drop(dec_out)), state  # (B, T, V)
        context = self._weights(dec_out, enc_out, mask) @ enc_out  # (B, T, H)
        h_tilde = torch.tanh(self.W_c(torch.cat([context, dec_out], dim=-1)))  # (B, T, H)
        return self.out(self.drop(h_tilde)), state  # (B, T, V)

    def _weights(self, dec_out: Tensor, enc_out: Tensor, mask: Tensor) -> Tensor:
        keys = self.W_a(enc_out) if self.W_a is not None else enc_out  # (B, S, H)
        scores = dec_out @ keys.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1)  # (B, T, S), 0 at padded source positions

    @torch.no_grad()
    def attention_weights(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """The attention weights of a teacher-forced pass: row t is how the step that predicts target
        character t spreads its attention over the source characters.

        Fed the model's own output (SOS + greedy prediction) as ``tgt_in``, these are exactly the
        weights greedy decoding used, since the decoder then sees the same inputs.

        Args:
            src, src_lengths: as in :meth:`encode`.
            tgt_in: (B, T) decoder inputs, starting with SOS.

        Returns:
            (B, T, S) weights; each row sums to 1 over the real source positions, padded ones get 0.

        Raises:
            ValueError: the model has no attention (``attention=None``).
        """
        if self.attention is None:
            raise ValueError("expected a model with attention ('dot' or 'general'), got attention=None")
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"expected tgt_in of shape (B, T) = ({src.shape[0]}, T), got {tuple(tgt_in.shape)}")
        enc_out, mask, state = self.encode(src, src_lengths)
        dec_out, _ = self.decoder(self.drop(self.tgt_embed(tgt_in.to(enc_out.device))), state)  # (B, T, H)
        return self._weights(dec_out, enc_out, mask)  # (B, T, S)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"expected tgt_in of shape (B, T) = ({src.shape[0]}, T), got {tuple(tgt_in.shape)}")
        enc_out, mask, state = self.encode(src, src_lengths)
        logits, _ = self._decode(tgt_in.to(enc_out.device), state, enc_out, mask)
        return logits

    @staticmethod
    def loss(logits: Tensor, tgt_out: Tensor) -> Tensor:
        """Mean cross-entropy over real target tokens (``tgt_out`` padded with -100)."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=IGNORE_INDEX)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, src_lengths: Tensor, max_len: int) -> list[list[int]]:
        """Most likely next id at every step, for the whole batch at once; stops at EOS or ``max_len``.

        Args:
            src, src_lengths: as in :meth:`encode`.
            max_len: most target ids to produce per example (>= 1).

        Returns:
            B lists of target ids, without SOS and EOS.
        """
        _check_max_len(max_len)
        enc_out, mask, state = self.encode(src, src_lengths)
        B = enc_out.shape[0]
        tok = torch.full((B, 1), self.sos_id, dtype=torch.long, device=enc_out.device)
        out = torch.zeros(B, 0, dtype=torch.long, device=enc_out.device)
        done = torch.zeros(B, dtype=torch.bool, device=enc_out.device)
        for _ in range(max_len):
            logits, state = self._decode(tok, state, enc_out, mask)  # (B, 1, V)
            tok = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            out = torch.cat([out, tok], dim=1)
            done |= tok[:, 0] == self.eos_id
            if done.all():
                break
        return [_strip(row, self.eos_id) for row in out.tolist()]

    @torch.no_grad()
    def beam_decode(self, src: Tensor, src_lengths: Tensor, max_len: int, beam_size: int = 5) -> list[list[int]]:
        """Beam search per example: keep the ``beam_size`` best partial targets by total log-probability;
        a hypothesis ending in EOS is finished; stop when no live hypothesis can beat the best finished
        one (log-probabilities only decrease) or at ``max_len``. beam_size=1 equals greedy decoding.

        Args:
            src, src_lengths: as in :meth:`encode`.
            max_len: most target ids per hypothesis (>= 1).
            beam_size: hypotheses kept per step (>= 1). Default: 5.

        Returns:
            B lists of target ids (the best hypothesis of each example), without SOS and EOS.
        """
        _check_max_len(max_len)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"expected beam_size to be an int >= 1, got {beam_size!r}")
        enc_all, mask_all, (h_all, c_all) = self.encode(src, src_lengths)
        results = []
        for b in range(enc_all.shape[0]):
            enc_out, mask = enc_all[b:b + 1], mask_all[b:b + 1]  # (1, S, H), (1, S)
            state = (h_all[:, b:b + 1], c_all[:, b:b + 1])  # (L, 1, H)
            seqs: list[list[int]] = [[]]
            scores = torch.zeros(1, device=enc_out.device)  # (K,)
            tok = torch.full((1, 1), self.sos_id, dtype=torch.long, device=enc_out.device)
            finished: list[tuple[float, list[int]]] = []
            for _ in range(max_len):
                K = len(seqs)
                logits, state = self._decode(tok, state, enc_out.expand(K, -1, -1), mask.expand(K, -1))
                logp = scores[:, None] + F.log_softmax(logits[:, -1].float(), dim=-1)  # (K, V)
                V = logp.shape[1]
                top, flat = torch.topk(logp.reshape(-1), min(beam_size, K * V))
                keep = []
                for s, f in zip(top.tolist(), flat.tolist()):
                    k, t = divmod(f, V)
                    if t == self.eos_id:
                        finished.append((s, seqs[k]))
                    else:
                        keep.append((s, k, t))
                best_done = max((s for s, _ in finished), default=float("-inf"))
                if not keep or best_done >= keep[0][0]:
                    break
                idx = torch.tensor([k for _, k, _ in keep], device=enc_out.device)
                seqs = [seqs[k] + [t] for _, k, t in keep]
                scores = torch.tensor([s for s, _, _ in keep], device=enc_out.device)
                state = (state[0].index_select(1, idx), state[1].index_select(1, idx))
                tok = torch.tensor([[t] for _, _, t in keep], device=enc_out.device)
            else:
                finished.extend(zip(scores.tolist(), seqs))  # max_len reached: unfinished hypotheses count too
            results.append(max(finished, key=lambda x: x[0])[1])
        return results


def _check_max_len(max_len: int) -> None:
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"expected max_len to be an int >= 1, got {max_len!r}")


def _strip(ids: list[int], eos_id: int) -> list[int]:
    return ids[:ids.index(eos_id)] if eos_id in ids else ids


# --- data helpers: text pairs <-> padded id tensors --------------------------------------------

def text_to_ids(text: str, vocab: CharVocab) -> list[int]:
    """Model ids of ``text``: the vocabulary's ids shifted past the special ids."""
    return [i + NUM_SPECIAL for i in vocab.encode(text).tolist()]


def ids_to_text(ids: Sequence[int], vocab: CharVocab) -> str:
    """Inverse of :func:`text_to_ids`; stops at EOS and skips PAD/SOS."""
    chars = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i >= NUM_SPECIAL:
            chars.append(i - NUM_SPECIAL)
    return vocab.decode(chars)


def make_batch(pairs: Sequence[tuple[str, str]], src_vocab: CharVocab, tgt_vocab: CharVocab,
               device: Union[str, torch.device, None] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pad a list of (source, target) strings into tensors for :class:`Seq2Seq`.

    Args:
        pairs: B ``(source, target)`` strings; sources non-empty, targets may be empty.
        src_vocab, tgt_vocab: character vocabularies (ids are shifted by ``NUM_SPECIAL``).
        device: where ``src``, ``tgt_in`` and ``tgt_out`` go. Default: ``None`` (the CPU default).

    Returns:
        ``(src (B, S), src_lengths (B,), tgt_in (B, T), tgt_out (B, T))``: src padded with PAD;
        ``tgt_in`` = SOS + target, padded with PAD; ``tgt_out`` = target + EOS, padded with -100.
        ``src_lengths`` stays on the CPU (packing needs it there); the rest go to ``device``.
    """
    if not pairs:
        raise ValueError("expected at least one (source, target) pair, got none")
    src_ids = [text_to_ids(s, src_vocab) for s, _ in pairs]
    tgt_ids = [text_to_ids(t, tgt_vocab) for _, t in pairs]
    if any(len(s) == 0 for s in src_ids):
        raise ValueError("expected non-empty source strings, got ''")
    B, S, T = len(pairs), max(map(len, src_ids)), max(map(len, tgt_ids)) + 1
    src = torch.full((B, S), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    for b, (s, t) in enumerate(zip(src_ids, tgt_ids)):
        src[b, :len(s)] = torch.tensor(s)
        tgt_in[b, :len(t) + 1] = torch.tensor([SOS_ID] + t)
        tgt_out[b, :len(t) + 1] = torch.tensor(t + [EOS_ID])
    lengths = torch.tensor([len(s) for s in src_ids])
    return src.to(device), lengths, tgt_in.to(device), tgt_out.to(device)


def decode_texts(model: Seq2Seq, sources: Sequence[str], src_vocab: CharVocab, tgt_vocab: CharVocab, max_len: int,
                 beam_size: int = 1, batch_size: int = 256) -> list[str]:
    """Translate strings: greedy (beam_size=1) or beam decoding, in batches, model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        out = []
        for i in range(0, len(sources), batch_size):
            src, lengths, _, _ = make_batch([(s, "") for s in sources[i:i + batch_size]], src_vocab, tgt_vocab,
                                            device=model_device(model))
            ids = (model.greedy_decode(src, lengths, max_len) if beam_size == 1
                   else model.beam_decode(src, lengths, max_len, beam_size))
            out.extend(ids_to_text(x, tgt_vocab) for x in ids)
        return out
    finally:
        model.train(was_training)


def exact_match(model: Seq2Seq, pairs: Sequence[tuple[str, str]], src_vocab: CharVocab, tgt_vocab: CharVocab,
                beam_size: int = 1, max_len: Optional[int] = None) -> float:
    """Fraction of pairs whose decoded output equals the target exactly.

    ``max_len`` defaults to the longest target + 2, so a model that never emits EOS is still cut off.
    """
    if not pairs:
        raise ValueError("expected at least one pair, got none")
    max_len = max_len or max(len(t) for _, t in pairs) + 2
    preds = decode_texts(model, [s for s, _ in pairs], src_vocab, tgt_vocab, max_len, beam_size)
    return sum(p == t for p, (_, t) in zip(preds, pairs)) / len(pairs)


def attention_matrix(model: Seq2Seq, source: str, output: str, src_vocab: CharVocab,
                     tgt_vocab: CharVocab) -> Tensor:
    """Where ``model`` looks while it writes ``output`` for ``source``: a (len(output) + 1, len(source))
    tensor on the CPU whose row t holds the attention weights of the step that predicts character t of
    ``output`` (the last row: the step that predicts EOS), one column per source character.

    Pass the model's own decoded output to see the weights it used while decoding.
    """
    if not source:
        raise ValueError("expected a non-empty source string, got ''")
    was_training = model.training
    model.eval()  # no dropout: the weights the model uses at prediction time
    try:
        src, lengths, tgt_in, _ = make_batch([(source, output)], src_vocab, tgt_vocab, device=model_device(model))
        return model.attention_weights(src, lengths, tgt_in)[0].float().cpu()  # (T + 1, S)
    finally:
        model.train(was_training)


def train_seq2seq(model: Seq2Seq, pairs: Sequence[tuple[str, str]], src_vocab: CharVocab, tgt_vocab: CharVocab,
                  steps: int = 1000,
                  batch_size: int = 64, lr: float = 3e-3, clip: float = 1.0, seed: int = 0,
                  max_seconds: Optional[float] = None, progress: bool = True) -> list[float]:
    """Teacher-forced training on random mini-batches of ``pairs`` with Adam, gradient clipping and a
    cosine learning-rate decay from ``lr`` to 0 over ``steps`` (a constant rate left the final
    exact match jumping by several points between nearby steps).

    Args:
        model, pairs, src_vocab, tgt_vocab: the model and its (source, target) training strings.
        steps: optimisation steps (>= 1). Default: 1000.
        batch_size: pairs per step, drawn with replacement (``len(pairs)`` of them when the set is smaller).
            Default: 64.
        lr: peak learning rate. Default: 3e-3.
        clip: max global gradient norm. Default: 1.0.
        seed: seed of the private generator that draws the batches. Default: 0.
        max_seconds: wall-clock budget, ``None`` = none. Default: ``None``.
        progress: show a tqdm bar. Default: ``True``.

    Stops after ``steps`` updates or ``max_seconds`` of wall clock, whichever comes first; leaves the
    model in eval mode. Returns the training loss (nats per target token) of every step.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"expected steps >= 1 and batch_size >= 1, got {steps} and {batch_size}")
    if not pairs:
        raise ValueError("expected at least one (source, target) pair to train on, got none")
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    model.train()
    losses, start = [], time.perf_counter()
    for _ in tqdm(range(steps), disable=not progress, desc="seq2seq"):
        idx = torch.randint(0, len(pairs), (min(batch_size, len(pairs)),), generator=g).tolist()
        src, lengths, tgt_in, tgt_out = make_batch([pairs[i] for i in idx], src_vocab, tgt_vocab, device)
        loss = model.loss(model(src, lengths, tgt_in), tgt_out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    model.eval()
    return losses
