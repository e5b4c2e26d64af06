"""Character vocabulary: text ↔ integer ids.

A :class:`CharVocab` maps each distinct character to an id in ``[0, V)`` (V = vocabulary size).
Unknown characters at encode time are an error that names the character and where it is, unless
the vocabulary was built with an explicit ``unk`` character, which then stands in for them.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Union

import torch
from torch import Tensor


def ids_in_range(ids: Union[Sequence[int], Tensor], V: int) -> list[int]:
    """``ids`` (a sequence or a tensor of any shape, flattened) as ints, each checked to lie in ``[0, V)``.

    A negative id would otherwise index ``itos`` from the end and decode silently to the wrong symbol.
    """
    if isinstance(ids, Tensor):
        ids = ids.reshape(-1).tolist()
    out = []
    for k, i in enumerate(ids):
        i = int(i)
        if not 0 <= i < V:
            raise ValueError(f"expected ids in [0, {V}), got {i} at position {k}")
        out.append(i)
    return out


class CharVocab:
    """A character-level vocabulary.

    Args:
        chars: the characters, in id order (id of ``chars[k]`` is ``k``). Duplicates are an error.
        unk: optional stand-in for unknown characters (one character, e.g. ``"\\ufffd"`` or ``"?"``).
            It is added at the end if not already in ``chars``. Default: ``None`` (unknown → ``ValueError``).

    Attributes:
        itos: list of characters, ``itos[id] -> char``.
        stoi: dict, ``stoi[char] -> id``.
        unk: the unknown stand-in or ``None``.
    """

    def __init__(self, chars: Iterable[str], unk: Optional[str] = None) -> None:
        itos = list(chars)
        for ch in itos:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"expected single characters, got {ch!r}")
        if len(set(itos)) != len(itos):
            dupes = sorted({c for c in itos if itos.count(c) > 1})
            raise ValueError(f"expected distinct characters, got duplicates {dupes!r}")
        if unk is not None:
            if not isinstance(unk, str) or len(unk) != 1:
                raise ValueError(f"expected unk to be one character, got {unk!r}")
            if unk not in itos:
                itos.append(unk)
        if not itos:
            raise ValueError("expected at least one character, got an empty vocabulary")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(itos)}
        self.unk: Optional[str] = unk

    @classmethod
    def from_text(cls, text: str, unk: Optional[str] = None) -> "CharVocab":
        """Build the vocabulary of ``text``: its distinct characters, sorted by code point."""
        if not isinstance(text, str):
            raise TypeError(f"expected text of type str, got {type(text).__name__}")
        if not text:
            raise ValueError("expected a non-empty text, got ''")
        return cls(sorted(set(text)), unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def unk_id(self) -> Optional[int]:
        """Id of the unknown stand-in, or ``None``."""
        return None if self.unk is None else self.stoi[self.unk]

    def encode(self, text: str) -> Tensor:
        """Encode ``text`` to a LongTensor of shape (N,), N = ``len(text)``.

        Raises:
            ValueError: a character is not in the vocabulary and ``unk`` is ``None``; the message
                names the character (repr) and its position.
        """
        stoi = self.stoi
        try:
            ids = [stoi[c] for c in text]
        except KeyError:
            if self.unk is None:
                pos, ch = next((i, c) for i, c in enumerate(text) if c not in stoi)
                raise ValueError(
                    f"expected characters from the vocabulary (V={len(self)}), got {ch!r} at position {pos}; "
                    "build the vocabulary from this text or pass unk=... to map unknown characters"
                ) from None
            unk_id = stoi[self.unk]
            ids = [stoi.get(c, unk_id) for c in text]
        return torch.tensor(ids, dtype=torch.long)  # (N,)

    def decode(self, ids: Union[Sequence[int], Tensor]) -> str:
        """Decode ids (a sequence, or a 0-d or (N,) tensor on any device) back to a string of N characters.

        Raises:
            ValueError: an id outside ``[0, V)`` (message gives the id and its position).
        """
        if isinstance(ids, Tensor) and ids.dim() > 1:
            raise ValueError(f"expected a 0-d or 1-d tensor of ids, got shape {tuple(ids.shape)}")
        return "".join(self.itos[i] for i in ids_in_range(ids, len(self.itos)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, inverse of :meth:`from_dict`."""
        return {"type": "CharVocab", "itos": list(self.itos), "unk": self.unk}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CharVocab":
        """Rebuild a vocabulary saved with :meth:`to_dict`."""
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError(f"expected a dict with key 'itos' (from CharVocab.to_dict), got {d!r:.80}")
        return cls(d["itos"], unk=d.get("unk"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharVocab):
            return NotImplemented
        return self.itos == other.itos and self.unk == other.unk

    def __hash__(self) -> int:
        return hash((tuple(self.itos), self.unk))

    def __repr__(self) -> str:
        preview = "".join(self.itos[:20])
        more = "…" if len(self) > 20 else ""
        return f"CharVocab(V={len(self)}, chars={preview!r}{more}, unk={self.unk!r})"
