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
