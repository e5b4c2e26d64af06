"""Tests for lstm_course.vocab.CharVocab."""
import json

import pytest
import torch

from lstm_course.vocab import CharVocab


def test_from_text_sorted_distinct():
    v = CharVocab.from_text("hello")
    assert v.itos == ["e", "h", "l", "o"]
    assert len(v) == 4
    assert v.stoi == {"e": 0, "h": 1, "l": 2, "o": 3}


def test_encode_decode_roundtrip_and_dtype():
    text = "To be, or not to be:\nthat is the question."
    v = CharVocab.from_text(text)
    ids = v.encode(text)
    assert ids.dtype == torch.long and ids.shape == (len(text),)
    assert ids[0].item() == v.stoi["T"]
    assert v.decode(ids) == text
    assert v.decode(ids.tolist()) == text
    assert v.decode(ids[3]) == text[3]


def test_unknown_char_error_names_char_and_position():
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"expected characters from the vocabulary \(V=3\), got 'z' at position 2"):
        v.encode("abz")


def test_unk_maps_unknown():
    v = CharVocab.from_text("abc", unk="?")
    assert len(v) == 4 and v.unk_id == 3
    assert v.encode("axc").tolist() == [0, 3, 2]
    # unk already in the chars is not duplicated
    assert len(CharVocab("ab?", unk="?")) == 3


def test_serialisation_roundtrip_via_json():
    v = CharVocab.from_text("xyz\n", unk="~")
    w = CharVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    assert w == v and w.encode("zq").tolist() == v.encode("zq").tolist()
    assert CharVocab.from_text("ab") != CharVocab.from_text("abc")
    assert CharVocab.from_text("ab") != CharVocab.from_text("ab", unk="?")


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        CharVocab.from_text("")
    with pytest.raises(ValueError, match="duplicates"):
        CharVocab(["a", "a"])
    with pytest.raises(ValueError, match="single characters"):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        CharVocab("ab").decode([0, 5])
    with pytest.raises(ValueError, match="from CharVocab.to_dict"):
        CharVocab.from_dict({"chars": "ab"})


def test_ids_in_range_bounds_are_exact():
    """V - 1 is the last valid id; V and -1 are refused with the id and its position named."""
    v = CharVocab("abc")
    assert v.decode([0, 2]) == "ac"
    with pytest.raises(ValueError, match=r"expected ids in \[0, 3\), got 3 at position 1"):
        v.decode([2, 3])
    with pytest.raises(ValueError, match=r"got -1 at position 0"):
        v.decode([-1])


def test_decode_refuses_2d_tensor_with_its_shape():
    v = CharVocab("ab")
    assert v.decode(torch.tensor([1, 0])) == "ba"
    with pytest.raises(ValueError, match=r"expected a 0-d or 1-d tensor of ids, got shape \(1, 2\)"):
        v.decode(torch.tensor([[0, 1]]))


def test_error_messages_name_what_was_wrong():
    """Each refusal says what it expected and what it got (the duplicates, exactly)."""
    with pytest.raises(ValueError, match=r"expected distinct characters, got duplicates \['a', 'b'\]$"):
        CharVocab(["b", "a", "c", "a", "b"])
    with pytest.raises(ValueError, match=r"expected unk to be one character, got 'xy'"):
        CharVocab("ab", unk="xy")
    with pytest.raises(ValueError, match=r"expected unk to be one character, got 5"):
        CharVocab("ab", unk=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^expected at least one character, got an empty vocabulary$"):
        CharVocab([])
    with pytest.raises(ValueError, match=r"build the vocabulary from this text or pass unk=\.\.\."):
        CharVocab("ab").encode("c")


def test_hash_and_repr():
    """Equal vocabularies hash alike (usable as dict keys); repr previews 20 characters, then '…'."""
    assert hash(CharVocab("ab")) == hash(CharVocab.from_text("ba"))
    assert len({CharVocab("ab"), CharVocab("ab"), CharVocab("ab", unk="?")}) == 2
    assert repr(CharVocab("ab", unk="?")) == "CharVocab(V=3, chars='ab?', unk='?')"
    twenty = "abcdefghijklmnopqrst"
    assert repr(CharVocab(twenty)) == f"CharVocab(V=20, chars={twenty!r}, unk=None)"
    assert repr(CharVocab(twenty + "u")) == f"CharVocab(V=21, chars={twenty!r}…, unk=None)"
