"""Tests for lstm_course.tagging: punctuation tags from raw text, CoNLL-U reader, vocabularies, padding."""
import random

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from lstm_course.tagging import (PUNCT_TAGS, TokenVocab, encode_tagged, pad_batch, punctuation_dataset,
                                 read_conllu, strip_play_markup)


def test_punctuation_hand_case():
    text = "Kent.\nI cannot conceive you, sir!--Is't so? Yes; truly: blush'd round-wombed"
    [(words, tags)] = punctuation_dataset(text, max_len=40)
    assert words == ["kent", "i", "cannot", "conceive", "you", "sir", "is't", "so", "yes", "truly",
                     "blush'd", "round", "wombed"]
    assert tags == ["PERIOD", "O", "O", "O", "COMMA", "EXCLAIM", "O", "QUESTION", "COLON", "COLON",
                    "O", "O", "O"]
    assert set(tags) <= set(PUNCT_TAGS)


def test_punctuation_chunks_pack_whole_sentences():
    text = "One two three. Four five. Six seven eight nine ten eleven. End"
    ex = punctuation_dataset(text, max_len=5)
    assert [w for w, _ in ex] == [["one", "two", "three", "four", "five"],
                                  ["six", "seven", "eight", "nine", "ten"], ["eleven", "end"]]
    assert all(len(w) == len(t) for w, t in ex)


def test_punctuation_randomised_invariants():
    rng = random.Random(0)
    vocab = ["thou", "art", "Romeo", "night", "o", "sweet"]
    marks = ["", "", " ", ",", ".", "?", "!", ";", ":", "--"]
    text = " ".join(rng.choice(vocab) + rng.choice(marks) for _ in range(500))
    for max_len in (1, 7, 40):
        ex = punctuation_dataset(text, max_len=max_len)
        assert all(1 <= len(w) <= max_len and len(w) == len(t) for w, t in ex)
        flat = [w for ws, _ in ex for w in ws]
        assert len(flat) == 500 and all(w == w.lower() for w in flat)  # nothing lost, lower-cased
    assert punctuation_dataset(text) == punctuation_dataset(text)  # deterministic


def test_punctuation_errors():
    with pytest.raises(ValueError, match="max_len >= 1"):
        punctuation_dataset("a b", max_len=0)
    with pytest.raises(ValueError, match="at least one word"):
        punctuation_dataset("... !!!")


PLAY = """ACT I. SCENE 1. Rousillon. A room in the Countess's palace.

[Enter BERTRAM, the COUNTESS OF ROUSILLON, HELENA,
and LAFEU, all in black.]

COUNTESS.
In delivering my son from me, I bury a second husband.

FIRST LORD. So, now they come:--
O, I pray you, Sir Toby. [Aside.] Who's there?

KING OF FRANCE.
I. Am I not king?
"""


def test_strip_play_markup_hand_case():
    # headings, stage directions (also across lines) and ACT/SCENE lines go; the speeches stay,
    # capitals and all ("O, I", "Sir Toby", a one-letter "I." that is not a heading)
    words = [w for ws, _ in punctuation_dataset(strip_play_markup(PLAY)) for w in ws]
    assert words == ("in delivering my son from me i bury a second husband so now they come "
                     "o i pray you sir toby who's there i am i not king").split()
    [(_, tags)] = punctuation_dataset(strip_play_markup("KENT.\nI cannot conceive you.\n[Exit.]"))
    assert tags == ["O", "O", "O", "PERIOD"]  # without stripping, "kent" would be a PERIOD too


def test_strip_play_markup_leaves_running_text_alone():
    rng = random.Random(1)
    vocab = ["thou", "art", "Romeo", "night", "O", "I", "Sir", "Toby", "sweet"]
    marks = ["", "", " ", ",", ".", "?", "!", ";", ":", "--", "\n"]
    text = " ".join(rng.choice(vocab) + rng.choice(marks) for _ in range(300))
    assert strip_play_markup(text) == text
    with pytest.raises(TypeError, match="expected text as a str"):
        strip_play_markup(b"KENT.")


CONLLU = """# sent_id = 1
# text = I can't go.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t_\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_

1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_"""


def test_read_conllu(tmp_path):
    p = tmp_path / "tiny.conllu"
    p.write_text(CONLLU, encoding="utf-8")
    sents = read_conllu(p)
    assert sents == [(["I", "ca", "n't", "go", "."], ["PRON", "AUX", "PART", "VERB", "PUNCT"]),
                     (["Hello"], ["INTJ"])]
    assert read_conllu(p, tag_field="xpos")[0][1] == ["PRP", "MD", "RB", "VB", "."]


def test_read_conllu_errors(tmp_path):
    p = tmp_path / "bad.conllu"
    p.write_text("# ok\n1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n2\tbroken line\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.conllu:3: expected 10 tab-separated fields, got 2"):
        read_conllu(p)
    p.write_text("x\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r":1: expected an integer token ID, got 'x'"):
        read_conllu(p)
    with pytest.raises(FileNotFoundError):
        read_conllu(tmp_path / "missing.conllu")
    p.write_bytes("1\tcaf\xe9\tx\tNOUN\t_\t_\t0\troot\t_\t_\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"bad\.conllu: expected UTF-8 text, got an invalid byte at byte offset 5"):
        read_conllu(p)


def test_token_vocab_words_and_tags():
    sents = [["the", "cat", "the"], ["a", "cat", "the"]]
    wv = TokenVocab.for_words(sents)
    assert wv.itos == ["<pad>", "<unk>", "the", "cat", "a"] and wv.pad_id == 0 and wv.unk_id == 1
    assert wv.encode(["cat", "dog"]).tolist() == [3, 1]
    assert TokenVocab.for_words(sents, min_freq=2).itos == ["<pad>", "<unk>", "the", "cat"]
    assert len(TokenVocab.for_words(sents, max_size=3)) == 3
    tv = TokenVocab.for_tags(tags=PUNCT_TAGS)
    assert tv.itos == PUNCT_TAGS and tv.pad_id is None
    assert tv.decode(tv.encode(["COMMA", "O"])) == ["COMMA", "O"]
    with pytest.raises(ValueError, match="'NOPE' at position 1"):
        tv.encode(["O", "NOPE"])
    assert TokenVocab.from_dict(wv.to_dict()) == wv
    with pytest.raises(ValueError, match=r"expected ids in \[0, 6\), got -1 at position 1"):
        tv.decode([0, -1])  # would otherwise wrap round to the last tag
    with pytest.raises(ValueError, match="expected a dict with key 'itos'"):
        TokenVocab.from_dict({"tokens": ["O"]})


def test_encode_and_pad_batch_feed_pack_and_masked_loss():
    pairs = [(["a", "b", "c"], ["O", "COMMA", "PERIOD"]), (["b"], ["PERIOD"])]
    wv = TokenVocab.for_words([w for w, _ in pairs])
    tv = TokenVocab.for_tags(tags=PUNCT_TAGS)
    x, y, lengths = pad_batch(encode_tagged(pairs, wv, tv))
    assert x.shape == y.shape == (2, 3) and x.dtype == y.dtype == torch.long
    assert x[1].tolist()[1:] == [0, 0] and y[1].tolist() == [tv.stoi["PERIOD"], -100, -100]
    assert lengths.tolist() == [3, 1] and lengths.device.type == "cpu" and lengths.dtype == torch.long
    pack_padded_sequence(torch.randn(2, 3, 4), lengths, batch_first=True, enforce_sorted=False)
    # padding is ignored by the loss: changing logits at padded positions changes nothing
    logits = torch.randn(2, 3, len(tv))
    loss = F.cross_entropy(logits.reshape(-1, len(tv)), y.reshape(-1))
    logits[1, 1:] = 100.0
    assert torch.allclose(loss, F.cross_entropy(logits.reshape(-1, len(tv)), y.reshape(-1)))


def test_pad_batch_and_encode_errors():
    with pytest.raises(ValueError, match="empty batch"):
        pad_batch([])
    with pytest.raises(ValueError, match="T >= 1"):
        pad_batch([(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))])
    with pytest.raises(ValueError, match="same shape"):
        pad_batch([(torch.tensor([1, 2]), torch.tensor([1]))])
    wv, tv = TokenVocab.for_words([["a"]]), TokenVocab.for_tags(tags=PUNCT_TAGS)
    with pytest.raises(ValueError, match="example 0: expected as many tags as words"):
        encode_tagged([(["a"], ["O", "O"])], wv, tv)


def test_pad_batch_pads_words_with_pad_id_and_tags_with_pad_tag():
    from lstm_course.tagging import TokenVocab, pad_batch

    seqs = [(torch.tensor([5, 6, 7]), torch.tensor([1, 2, 3])), (torch.tensor([8]), torch.tensor([4]))]
    x, y, lengths = pad_batch(seqs, pad_tag=-1, pad_id=9)
    assert x.tolist() == [[5, 6, 7], [8, 9, 9]] and y.tolist() == [[1, 2, 3], [4, -1, -1]]
    assert lengths.tolist() == [3, 1] and lengths.dtype == torch.long
    assert TokenVocab(["a", "b"]) == TokenVocab(["a", "b"]) and TokenVocab(["a", "b"]) != TokenVocab(["b", "a"])
    assert TokenVocab(["a"]) != ["a"]


def test_punctuation_tag_reads_only_the_gap_before_the_next_word():
    # the second-to-last word's tag comes from its own gap, not from the text's end
    [(words, tags)] = punctuation_dataset("one two three.")
    assert tags == ["O", "O", "PERIOD"]
    # a curly apostrophe inside a word is written as a straight one, so both spellings are one word
    [(words, _)] = punctuation_dataset("Is\u2019t so? Is't so?")
    assert words == ["is't", "so", "is't", "so"]


def test_read_conllu_deprel_column_and_bad_field(tmp_path):
    p = tmp_path / "tiny.conllu"
    p.write_text(CONLLU, encoding="utf-8")
    assert read_conllu(p, tag_field="deprel")[0][1] == ["nsubj", "aux", "advmod", "root", "punct"]
    with pytest.raises(ValueError, match=r"^expected tag_field in \['deprel', 'upos', 'xpos'\], got 'lemma'$"):
        read_conllu(p, tag_field="lemma")
    long_line = "1\t" + "x" * 80
    p.write_text(long_line + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        read_conllu(p)
    assert str(err.value).endswith(f"got 2: {long_line[:60]!r}")  # the line quoted, cut at 60 characters


def test_token_vocab_edge_cases():
    assert TokenVocab.for_tags([["b", "a"], ["c", "a"]]).itos == ["a", "b", "c"]  # seen tags, sorted
    assert TokenVocab.for_words([["a", "b"]], max_size=2).itos == ["<pad>", "<unk>"]  # room for the specials only
    # an empty sequence still encodes to a LongTensor (torch.tensor([]) alone would be float32)
    assert TokenVocab.for_words([["a"]]).encode([]).dtype == torch.long
    assert TokenVocab.for_tags(tags=PUNCT_TAGS).encode([]).dtype == torch.long
    with pytest.raises(ValueError, match="^expected distinct tokens, got duplicates$"):
        TokenVocab(["a", "a"])
    with pytest.raises(ValueError, match="^expected at least one token, got none$"):
        TokenVocab([])
    with pytest.raises(ValueError, match="^expected at least one sequence, got an empty batch$"):
        pad_batch([])
    with pytest.raises(ValueError, match="^expected a text with at least one word, got none$"):
        punctuation_dataset("?!")
    with pytest.raises(ValueError, match=r"^expected tokens from the vocabulary \['O', 'COMMA', 'PERIOD', 'QUESTION', "
                                         r"'EXCLAIM', 'COLON'\]…, got 'X' at position 0$"):
        TokenVocab.for_tags(tags=PUNCT_TAGS).encode(["X"])
