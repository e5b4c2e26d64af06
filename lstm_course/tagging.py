"""Sequence-tagging data: punctuation restoration from raw text, CoNLL-U files, padding.

**Punctuation restoration.** Take any text, lower-case it and strip its punctuation; the task is to
put the punctuation back. Each word is tagged with the mark that *followed* it in the raw text::

    "Kent. I cannot conceive you."  ->  words ["kent", "i", "cannot", "conceive", "you"]
                                        tags  ["PERIOD", "O", "O", "O", "PERIOD"]

Because the tag sits *after* the word, the next word is evidence (a sentence rarely continues
with a speaker's name), which a bidirectional tagger sees and a left-to-right one does not.
The labels come from the text itself, deterministically: no annotation needed.

**Play markup.** In a play's text, every speech opens with a speaker heading (``KENT.`` on its own
line) and stage directions sit in brackets (``[Exit.]``). Lower-cased, a heading becomes a name
tagged PERIOD (about half of all PERIOD tags in the Shakespeare corpus), which is page layout, not
punctuation a reader would restore. :func:`strip_play_markup` removes headings, bracketed stage
directions and ACT/SCENE lines before :func:`punctuation_dataset`.

**CoNLL-U** (Universal Dependencies) files give (word, part-of-speech) sentences: :func:`read_conllu`.

**Batches.** :class:`TokenVocab` maps words/tags to ids (``<pad>`` = 0, ``<unk>`` = 1 for words);
:func:`pad_batch` pads a list of (x, y) sequences into (B, T) tensors, tags padded with -100 (the
``ignore_index`` of ``F.cross_entropy``) and lengths on the CPU as ``pack_padded_sequence`` requires.

Legend: B batch size, T longest sequence in the batch, C number of tag classes.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from lstm_course.vocab import ids_in_range

Tagged = tuple[list[str], list[str]]

#: Tag set of :func:`punctuation_dataset`, in id order for :meth:`TokenVocab.for_tags`.
#: ":" and ";" share COLON: both mark a clause break, and keeping the classes few keeps the task learnable.
PUNCT_TAGS = ["O", "COMMA", "PERIOD", "QUESTION", "EXCLAIM", "COLON"]
PUNCT_MARKS = {",": "COMMA", ".": "PERIOD", "?": "QUESTION", "!": "EXCLAIM", ":": "COLON", ";": "COLON"}
_SENTENCE_END = {"PERIOD", "QUESTION", "EXCLAIM"}
# A word: letters/digits, with inner apostrophes kept ("blush'd", "to't"); hyphens split words.
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
PAD, UNK = "<pad>", "<unk>"
# Play markup (see strip_play_markup). A stage direction: brackets without nested brackets, at most
# 400 characters (a stray "[" must not swallow a scene). ACT/SCENE headings: the whole line.
# A speaker heading: at a line's start, upper-case words of >= 2 letters ("FIRST LORD", "KING OF
# FRANCE") ending in "." -- a sentence's first word is never all capitals in running text.
_STAGE_DIRECTION = re.compile(r"\[[^\[\]]{0,400}\]")
_ACT_SCENE = re.compile(r"^[ \t]*(?:ACT|SCENE)\b[^\n]*$", re.M)
_SPEAKER = re.compile(r"^[ \t]*[A-Z][A-Z'\-]+(?:[ \t]+[A-Z][A-Z'\-]*)*\.(?:[ \t]+|$)", re.M)


def strip_play_markup(text: str) -> str:
    """Remove a play's layout from its text: speaker headings, stage directions, ACT/SCENE lines.

    ``"KENT.\\nI cannot conceive you.\\n[Exit.]"`` becomes ``"\\nI cannot conceive you.\\n "``:

    - a speaker heading is a run of upper-case words of two or more letters at the start of a line,
      ending in ``"."`` (``KING HENRY.``, ``FIRST LORD.``); the speech after it on the same line stays;
    - a stage direction is anything in square brackets (it may span lines);
    - a line starting with ``ACT`` or ``SCENE`` is dropped whole.

    Running text is kept as it is, capitals included (``"Sir Toby, I"``, ``"O, I"``). Lines in
    mixed case that only look like markup (a cast list, ``"DUKE OF MILAN, father to Silvia"``) stay.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as a str, got {type(text).__name__}")
    text = _STAGE_DIRECTION.sub(" ", text)
    text = _ACT_SCENE.sub("", text)
    return _SPEAKER.sub("", text)


def punctuation_dataset(text: str, max_len: int = 40) -> list[Tagged]:
    """Build the punctuation-restoration data set from raw text.

    Args:
        text: any text (e.g. :func:`lstm_course.corpus.load_text`).
        max_len: most words per example. Default: 40.

    Returns:
        A list of ``(words, tags)`` pairs of equal length (1 to ``max_len``): words lower-cased with
        punctuation stripped, tags from :data:`PUNCT_TAGS` — the first mark of :data:`PUNCT_MARKS`
        between this word and the next (``"O"`` if none; so ``"lord!--"`` is EXCLAIM). Examples are
        whole sentences packed greedily up to ``max_len`` words (a longer sentence is cut into
        ``max_len`` pieces), in text order. Same text → same list.
    """
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"expected max_len >= 1, got {max_len}")
    matches = list(_WORD.finditer(text))
    if not matches:
        raise ValueError("expected a text with at least one word, got none")
    words, tags = [], []
    for k, m in enumerate(matches):
        gap_end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        gap = text[m.end():gap_end]
        tag = next((PUNCT_MARKS[c] for c in gap if c in PUNCT_MARKS), "O")
        words.append(m.group().lower().replace("\u2019", "'"))
        tags.append(tag)
    # Cut into sentences, then pack whole sentences into examples of at most max_len words.
    sentences: list[tuple[int, int]] = []
    start = 0
    for k, tag in enumerate(tags):
        if tag in _SENTENCE_END or k == len(tags) - 1:
            for s in range(start, k + 1, max_len):  # over-long sentences become max_len pieces
                sentences.append((s, min(s + max_len, k + 1)))
            start = k + 1
    examples: list[Tagged] = []
    cur_start, cur_end = sentences[0]
    for s, e in sentences[1:]:
        if e - cur_start <= max_len:
            cur_end = e
        else:
            examples.append((words[cur_start:cur_end], tags[cur_start:cur_end]))
            cur_start, cur_end = s, e
    examples.append((words[cur_start:cur_end], tags[cur_start:cur_end]))
    return examples


def read_conllu(path: Union[str, Path], tag_field: str = "upos") -> list[Tagged]:
    """Read a CoNLL-U file into ``(forms, tags)`` sentences.

    Args:
        path: a UTF-8 ``.conllu`` file.
        tag_field: which column gives the tag: ``"upos"`` (default), ``"xpos"`` or ``"deprel"``.

    Comment lines (``#``), multi-word token ranges (ID ``1-2``) and empty nodes (ID ``1.1``) are
    skipped; a blank line ends a sentence (the last one needs none).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line without 10 tab-separated fields or with a bad ID (message: file and line
            number), or a file that is not UTF-8.
    """
    columns = {"upos": 3, "xpos": 4, "deprel": 7}
    if tag_field not in columns:
        raise ValueError(f"expected tag_field in {sorted(columns)}, got {tag_field!r}")
    col = columns[tag_field]
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: expected UTF-8 text, got an invalid byte at byte offset {err.start}") from None
    sentences: list[Tagged] = []
    forms: list[str] = []
    tags: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            if forms:
                sentences.append((forms, tags))
                forms, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise ValueError(f"{path}:{lineno}: expected 10 tab-separated fields, got {len(fields)}: {line[:60]!r}")
        tok_id = fields[0]
        if re.fullmatch(r"\d+-\d+|\d+\.\d+", tok_id):
            continue  # multi-word range or empty node
        if not re.fullmatch(r"[1-9]\d*", tok_id):
            raise ValueError(f"{path}:{lineno}: expected an integer token ID, got {tok_id!r}")
        forms.append(fields[1])
        tags.append(fields[col])
    if forms:
        sentences.append((forms, tags))
    return sentences


class TokenVocab:
    """Tokens (words or tags) ↔ ids.

    Args:
        tokens: the tokens in id order (after ``specials``).
        specials: tokens placed first, e.g. ``("<pad>", "<unk>")`` for words (ids 0 and 1), ``()``
            for tags. Default: ``()``.

    Attributes:
        itos, stoi, pad_id (id of ``<pad>`` or None), unk_id (id of ``<unk>`` or None).
    """

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = ()) -> None:
        special_set = set(specials)
        itos = list(specials) + [t for t in tokens if t not in special_set]
        if len(set(itos)) != len(itos):
            raise ValueError("expected distinct tokens, got duplicates")
        if not itos:
            raise ValueError("expected at least one token, got none")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(itos)}
        self.pad_id: Optional[int] = self.stoi.get(PAD)
        self.unk_id: Optional[int] = self.stoi.get(UNK)

    @classmethod
    def for_words(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1,
                  max_size: Optional[int] = None) -> "TokenVocab":
        """Word vocabulary: ``<pad>`` = 0, ``<unk>`` = 1, then words seen at least ``min_freq`` times,
        most frequent first (ties alphabetical), at most ``max_size`` entries in all."""
        counts = Counter(w for s in sentences for w in s)
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls(kept, specials=(PAD, UNK))

    @classmethod
    def for_tags(cls, sentences: Iterable[Sequence[str]] = (), tags: Optional[Sequence[str]] = None) -> "TokenVocab":
        """Tag vocabulary without specials: ``tags`` in the given order (e.g. :data:`PUNCT_TAGS`),
        else the tags seen in ``sentences``, sorted."""
        if tags is not None:
            return cls(tags)
        return cls(sorted({t for s in sentences for t in s}))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> Tensor:
        """Tokens → LongTensor (T,). Unknown tokens map to ``<unk>``; without one, ``ValueError``."""
        if self.unk_id is not None:
            return torch.tensor([self.stoi.get(t, self.unk_id) for t in tokens], dtype=torch.long)
        for k, t in enumerate(tokens):
            if t not in self.stoi:
                raise ValueError(f"expected tokens from the vocabulary {self.itos[:8]}…, got {t!r} at position {k}")
        return torch.tensor([self.stoi[t] for t in tokens], dtype=torch.long)

    def decode(self, ids: Union[Sequence[int], Tensor]) -> list[str]:
        """Ids (T,) → T tokens. An id outside ``[0, len)`` (e.g. the -100 of padded tags) is a ``ValueError``."""
        return [self.itos[i] for i in ids_in_range(ids, len(self.itos))]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, inverse of :meth:`from_dict`."""
        return {"type": "TokenVocab", "itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TokenVocab":
        """Rebuild a vocabulary saved with :meth:`to_dict` (specials are the first entries of ``itos``)."""
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError(f"expected a dict with key 'itos' (from TokenVocab.to_dict), got {d!r:.80}")
        return cls(d["itos"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenVocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"TokenVocab(size={len(self)}, first={self.itos[:5]})"


def encode_tagged(pairs: Sequence[Tagged], word_vocab: TokenVocab, tag_vocab: TokenVocab) -> list[tuple[Tensor, Tensor]]:
    """Encode ``(words, tags)`` pairs into ``(x (T,), y (T,))`` LongTensor pairs."""
    out = []
    for k, (words, tags) in enumerate(pairs):
        if len(words) != len(tags):
            raise ValueError(f"example {k}: expected as many tags as words, got {len(tags)} tags for {len(words)} words")
        out.append((word_vocab.encode(words), tag_vocab.encode(tags)))
    return out


def pad_batch(seqs: Sequence[tuple[Tensor, Tensor]], pad_tag: int = -100,
              pad_id: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Pad a list of ``(x (T_b,), y (T_b,))`` pairs into a batch (usable as a DataLoader ``collate_fn``).

    Args:
        seqs: B pairs of 1-d LongTensors of equal length per pair (lengths ≥ 1).
        pad_tag: fill value for tags; -100 is ignored by ``F.cross_entropy``. Default: -100.
        pad_id: fill value for word ids (``<pad>``). Default: 0.

    Returns:
        ``x`` (B, T) and ``y`` (B, T), T = longest length, on the inputs' device; ``lengths`` (B,)
        LongTensor on the CPU (``pack_padded_sequence`` wants it there).
    """
    if len(seqs) == 0:
        raise ValueError("expected at least one sequence, got an empty batch")
    for k, (x, y) in enumerate(seqs):
        if x.dim() != 1 or x.shape != y.shape or x.numel() == 0:
            raise ValueError(f"sequence {k}: expected x and y of the same shape (T,) with T >= 1, "
                             f"got {tuple(x.shape)} and {tuple(y.shape)}")
    lengths = torch.tensor([x.numel() for x, _ in seqs], dtype=torch.long)  # (B,) CPU
    x = pad_sequence([s[0] for s in seqs], batch_first=True, padding_value=pad_id)  # (B, T)
    y = pad_sequence([s[1] for s in seqs], batch_first=True, padding_value=pad_tag)  # (B, T)
    return x, y, lengths
