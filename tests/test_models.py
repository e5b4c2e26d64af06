"""CharLM, SequenceClassifier and Tagger: shapes, state handling, packing, masking, errors."""
from dataclasses import asdict

import pytest
import torch
from torch import nn

from lstm_course.models import CharLM, CharLMConfig, SequenceClassifier, Tagger

V = 11


def dev(model):
    return next(model.parameters()).device


# --- CharLM ----------------------------------------------------------------------------------------

def test_charlm_shapes_and_state():
    torch.manual_seed(0)
    cfg = CharLMConfig(vocab_size=V, embed_dim=8, hidden_size=12, num_layers=2, dropout=0.0)
    model = CharLM(cfg)
    x = torch.randint(0, V, (3, 7), device=dev(model))
    logits, (h, c) = model(x)
    assert logits.shape == (3, 7, V) and logits.dtype == torch.float32
    assert h.shape == c.shape == (2, 3, 12)
    zeros = (torch.zeros(2, 3, 12), torch.zeros(2, 3, 12))
    torch.testing.assert_close(model(x, zeros)[0], logits)


def test_charlm_carried_state_equals_one_long_pass():
    # What TBPTT relies on: two chunks with the state handed over == one pass over the whole sequence.
    torch.manual_seed(1)
    model = CharLM(CharLMConfig(vocab_size=V, embed_dim=8, hidden_size=12, num_layers=2, dropout=0.3)).eval()
    x = torch.randint(0, V, (2, 10))
    full, _ = model(x)
    a, st = model(x[:, :4])
    b, _ = model(x[:, 4:], st)
    torch.testing.assert_close(torch.cat([a, b], 1), full)
    # and the state matters: a fresh state for the second chunk gives different logits
    assert not torch.allclose(model(x[:, 4:])[0], b)


def test_charlm_forget_bias_and_presets():
    cfg = CharLMConfig.tiny(V)
    assert cfg.vocab_size == V and cfg.hidden_size < CharLMConfig.shakespeare(V).hidden_size
    model = CharLM(CharLMConfig.shakespeare(V))
    lstm = model.lstm
    H = lstm.hidden_size
    for k in range(lstm.num_layers):
        b = getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")
        torch.testing.assert_close(b[H:2 * H], torch.ones(H))
        assert not torch.allclose(b[:H], torch.ones(H))
    # configs are plain dataclasses: they rebuild from asdict (what checkpoints store)
    again = CharLM(CharLMConfig(**asdict(model.config)))
    assert again.num_parameters() == model.num_parameters()


def test_charlm_tied_weights_and_training_step():
    torch.manual_seed(2)
    model = CharLM(CharLMConfig(vocab_size=V, embed_dim=16, hidden_size=16, num_layers=1, dropout=0.0, tie_weights=True))
    assert model.head.weight is model.embed.weight
    untied = CharLM(CharLMConfig(vocab_size=V, embed_dim=16, hidden_size=16, num_layers=1, dropout=0.0))
    assert model.num_parameters() == untied.num_parameters() - V * 16
    x = torch.randint(0, V, (4, 9))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):  # memorising one batch: the loss must fall
        logits, _ = model(x[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(vocab_size=0), "vocab_size"), (dict(vocab_size=V, hidden_size=0), "hidden_size"),
    (dict(vocab_size=V, dropout=1.0), "dropout"), (dict(vocab_size=V, tie_weights=True), "tie_weights"),
])
def test_charlm_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=f"expected .*{match}"):
        CharLM(CharLMConfig(**kwargs))


def test_charlm_bad_input():
    model = CharLM(CharLMConfig.tiny(V))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="integer token ids"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="T >= 1"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="expected state"):
        model(torch.zeros(2, 5, dtype=torch.long), (torch.zeros(1, 3, 32), torch.zeros(1, 3, 32)))


# --- SequenceClassifier ------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, rnn_type", [("lstm", nn.LSTM), ("rnn", nn.RNN)])
def test_classifier_shapes_and_last_step(cell, rnn_type):
    torch.manual_seed(3)
    model = SequenceClassifier(8, 2, hidden_size=10, embed_dim=4, cell=cell)
    assert type(model.rnn) is rnn_type
    x = torch.randint(0, 8, (5, 12))
    logits = model(x)
    assert logits.shape == (5, 2)
    # the prediction reads the whole sequence: changing the first token changes it
    x2 = x.clone()
    x2[:, 0] = (x2[:, 0] + 1) % 8
    assert not torch.allclose(model(x2), logits)
    # the prediction is the last step's: it equals the classifier applied to the LSTM's last output
    out, _ = model.rnn(model.embed(x))
    torch.testing.assert_close(model.head(out[:, -1]), logits)


def test_classifier_bad_args():
    with pytest.raises(ValueError, match="expected cell 'lstm' or 'rnn', got 'gru'"):
        SequenceClassifier(8, 2, cell="gru")
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(8, 0)


# --- Tagger ------------------------------------------------------------------------------------------

def padded_batch(seqs, pad=0):
    T = max(len(s) for s in seqs)
    x = torch.full((len(seqs), T), pad, dtype=torch.long)
    for b, s in enumerate(seqs):
        x[b, :len(s)] = torch.tensor(s)
    return x, torch.tensor([len(s) for s in seqs])


@pytest.mark.parametrize("bidirectional", [True, False])
def test_tagger_padded_batch_equals_each_sequence_alone(bidirectional):
    torch.manual_seed(4)
    model = Tagger(20, 5, embed_dim=6, hidden_size=7, num_layers=2, bidirectional=bidirectional).double()
    seqs = [[3, 4, 5], [6, 7, 8, 9, 10, 11], [12], [13, 14, 15, 16]]  # unsorted lengths on purpose
    x, lengths = padded_batch(seqs)
    logits = model(x, lengths)
    assert logits.shape == (4, 6, 5)
    for b, s in enumerate(seqs):
        alone = model(torch.tensor([s]), torch.tensor([len(s)]))[0]
        torch.testing.assert_close(logits[b, :len(s)], alone, rtol=1e-10, atol=1e-12)
    # padding token values do not leak into real positions (the backward direction starts at the true end)
    x_other_pad = x.clone()
    for b, s in enumerate(seqs):
        x_other_pad[b, len(s):] = 19
    torch.testing.assert_close(model(x_other_pad, lengths)[0, :3], logits[0, :3], rtol=1e-10, atol=1e-12)


def test_tagger_masked_loss_ignores_padding():
    torch.manual_seed(5)
    model = Tagger(20, 5, embed_dim=6, hidden_size=7)
    seqs = [[3, 4, 5], [6, 7, 8, 9, 10]]
    x, lengths = padded_batch(seqs)
    tags = torch.tensor([[1, 2, 3, -100, -100], [0, 1, 2, 3, 4]])
    logits = model(x, lengths)
    loss = model.loss(logits, tags)
    changed = logits.detach().clone()
    changed[0, 3:] = torch.randn(2, 5) * 100  # scribble over the padding positions
    torch.testing.assert_close(model.loss(changed, tags), loss.detach())
    # it is the mean over the 8 real tokens
    real = torch.cat([logits[0, :3], logits[1]])
    expected = nn.functional.cross_entropy(real, torch.tensor([1, 2, 3, 0, 1, 2, 3, 4]))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert model.embed.weight.grad[0].abs().sum() == 0  # the pad embedding never learns


def test_tagger_bad_input():
    model = Tagger(20, 5)
    x = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="lengths"):
        model(x, torch.tensor([4, 5]))
    with pytest.raises(ValueError, match="lengths"):
        model(x, torch.tensor([4, 0]))
    with pytest.raises(ValueError, match=r"lengths of shape \(B,\)"):
        model(x, torch.tensor([4]))
    with pytest.raises(ValueError, match="pad_id"):
        Tagger(5, 3, pad_id=5)
    with pytest.raises(ValueError, match="expected logits"):
        model.loss(torch.zeros(2, 4, 5), torch.zeros(2, 3, dtype=torch.long))


def test_tagger_batch_padded_past_its_longest_sequence_keeps_T():
    # A batch padded to a fixed T (a DataLoader with a fixed width, or a slice of a wider batch) has
    # max(lengths) < T; the docstring promises logits (B, T, C), so they line up with tags (B, T).
    torch.manual_seed(6)
    model = Tagger(20, 5, embed_dim=6, hidden_size=7).double()
    seqs = [[3, 4, 5], [6, 7], [8, 9, 10, 11]]
    x, lengths = padded_batch(seqs)
    T = 9  # longer than the longest sequence (4)
    wide = torch.zeros(3, T, dtype=torch.long)
    wide[:, :x.shape[1]] = x
    logits = model(wide, lengths)
    assert logits.shape == (3, T, 5)
    torch.testing.assert_close(logits[:, :4], model(x, lengths), rtol=1e-10, atol=1e-12)
    tags = torch.full((3, T), Tagger.IGNORE_INDEX)
    for b, s in enumerate(seqs):
        tags[b, :len(s)] = torch.arange(len(s)) % 5
    assert torch.isfinite(model.loss(logits, tags))  # the loss accepts the (B, T) tags as they are


# --- every refusal says exactly what it expected and what it got ------------------------------------------

def _message(fn):
    with pytest.raises(ValueError) as err:
        fn()
    return str(err.value)


def test_charlm_input_errors_are_exact():
    model = CharLM(CharLMConfig(vocab_size=V, embed_dim=8, hidden_size=12, num_layers=2))
    assert _message(lambda: model(torch.zeros(5, dtype=torch.long))) == "expected x of shape (B, T), got (5,)"
    assert _message(lambda: model([[1, 2]])) == "expected x of shape (B, T), got list"
    assert _message(lambda: model(torch.zeros(2, 5))) == "expected integer token ids in x, got dtype torch.float32"
    assert _message(lambda: model(torch.zeros(2, 0, dtype=torch.long))) == \
        "expected sequence length T >= 1, got x of shape (2, 0)"
    x = torch.zeros(3, 4, dtype=torch.int32)  # int32 ids are accepted
    assert model(x)[0].shape == (3, 4, V)
    good = (torch.zeros(2, 3, 12), torch.zeros(2, 3, 12))
    assert model(x, list(good))[0].shape == (3, 4, V)  # a list (h, c) is accepted too
    for state, got in [((torch.zeros(1, 3, 12), torch.zeros(2, 3, 12)), "[(1, 3, 12), (2, 3, 12)]"),
                       ((torch.zeros(2, 3, 12),), "[(2, 3, 12)]"),
                       (torch.zeros(2, 3, 12), "Tensor")]:
        assert _message(lambda: model(x, state)) == \
            f"expected state (h, c) each of shape (num_layers, B, H) = (2, 3, 12), got {got}"
    assert _message(lambda: CharLM({"vocab_size": V})) == "expected a CharLMConfig, got dict"


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocab_size=0), "expected vocab_size to be a positive int, got 0"),
    (dict(vocab_size=True), "expected vocab_size to be a positive int, got True"),
    (dict(vocab_size=V, embed_dim=2.0), "expected embed_dim to be a positive int, got 2.0"),
    (dict(vocab_size=V, num_layers=0), "expected num_layers to be a positive int, got 0"),
    (dict(vocab_size=V, dropout=-0.1), "expected 0 <= dropout < 1, got -0.1"),
    (dict(vocab_size=V, dropout=1.0), "expected 0 <= dropout < 1, got 1.0"),
    (dict(vocab_size=V, embed_dim=8, hidden_size=16, tie_weights=True),
     "expected embed_dim == hidden_size with tie_weights=True, got embed_dim=8, hidden_size=16"),
])
def test_charlm_config_errors_are_exact(kwargs, message):
    assert _message(lambda: CharLMConfig(**kwargs).validate()) == message


def test_charlm_presets_and_dropout_placement():
    tiny = CharLMConfig.tiny(V)
    assert (tiny.vocab_size, tiny.embed_dim, tiny.hidden_size, tiny.num_layers, tiny.dropout) == (V, 16, 32, 1, 0.0)
    big = CharLMConfig.shakespeare(V)
    assert (big.vocab_size, big.embed_dim, big.hidden_size, big.num_layers, big.dropout) == (V, 64, 384, 1, 0.0)
    one = CharLM(CharLMConfig(vocab_size=V, num_layers=1, dropout=0.3))
    two = CharLM(CharLMConfig(vocab_size=V, num_layers=2, dropout=0.3))
    assert one.lstm.dropout == 0.0 and two.lstm.dropout == 0.3 and one.drop.p == 0.3  # nn.LSTM's is between layers
    assert one.lstm.batch_first and one.lstm.input_size == 64 and one.lstm.hidden_size == 256
    lstm = CharLM(CharLMConfig(vocab_size=V, hidden_size=8, forget_bias=2.5)).lstm  # the config's value is used
    torch.testing.assert_close((lstm.bias_ih_l0 + lstm.bias_hh_l0)[8:16], torch.full((8,), 2.5))


def test_classifier_and_tagger_errors_are_exact():
    for kwargs, message in [(dict(vocab_size=0, num_classes=2), "expected vocab_size to be a positive int, got 0"),
                            (dict(vocab_size=8, num_classes=2, hidden_size=0), "expected hidden_size to be a positive int, got 0"),
                            (dict(vocab_size=8, num_classes=2, embed_dim=1.5), "expected embed_dim to be a positive int, got 1.5"),
                            (dict(vocab_size=8, num_classes=2, cell="gru"), "expected cell 'lstm' or 'rnn', got 'gru'")]:
        assert _message(lambda: SequenceClassifier(**kwargs)) == message
    assert _message(lambda: Tagger(5, 3, pad_id=5)) == "expected 0 <= pad_id < vocab_size = 5, got 5"
    assert _message(lambda: Tagger(5, 3, pad_id=-1)) == "expected 0 <= pad_id < vocab_size = 5, got -1"
    assert _message(lambda: Tagger(5, 3, dropout=1.0)) == "expected 0 <= dropout < 1, got 1.0"
    model = Tagger(20, 5, embed_dim=6, hidden_size=7)
    x = torch.ones(2, 4, dtype=torch.long)
    assert _message(lambda: model(x, torch.tensor([4]))) == "expected lengths of shape (B,) = (2,), got (1,)"
    assert _message(lambda: model(x, torch.tensor([4, 0]))) == "expected 1 <= lengths <= T = 4, got min 0, max 4"
    assert _message(lambda: model(x, torch.tensor([5, 1]))) == "expected 1 <= lengths <= T = 4, got min 1, max 5"
    assert model(x, [4, 1]).shape == (2, 4, 5)  # a list of lengths works too
    assert _message(lambda: model.loss(torch.zeros(2, 4, 5), torch.zeros(2, 3, dtype=torch.long))) == \
        "expected logits (B, T, C) and tags (B, T), got (2, 4, 5) and (2, 3)"
    assert _message(lambda: model.loss(torch.zeros(2, 4), torch.zeros(2, 4, dtype=torch.long))) == \
        "expected logits (B, T, C) and tags (B, T), got (2, 4) and (2, 4)"


def test_tagger_layers_directions_dropout_and_pad_embedding():
    t = Tagger(20, 5, embed_dim=6, hidden_size=7, num_layers=2, bidirectional=False, dropout=0.25, pad_id=3)
    assert t.lstm.num_layers == 2 and not t.lstm.bidirectional and t.lstm.dropout == 0.25 and t.drop.p == 0.25
    assert t.head.in_features == 7 and t.embed.padding_idx == 3 and t.embed.weight[3].abs().sum() == 0
    b = Tagger(20, 5, embed_dim=6, hidden_size=7, dropout=0.25)
    assert b.lstm.bidirectional and b.head.in_features == 14 and b.lstm.dropout == 0.0  # one layer: none between
    assert b.lstm.batch_first and b.embed.padding_idx == 0


def test_classifier_and_tagger_defaults_forget_bias_and_smallest_sizes():
    c = SequenceClassifier(8, 2)
    assert (c.rnn.hidden_size, c.embed.embedding_dim, c.cell) == (64, 16, "lstm")
    H = c.rnn.hidden_size
    torch.testing.assert_close((c.rnn.bias_ih_l0 + c.rnn.bias_hh_l0)[H:2 * H], torch.ones(H))  # forget bias 1
    r = SequenceClassifier(8, 2, cell="rnn")
    assert r.cell == "rnn" and type(r.rnn) is nn.RNN
    assert not torch.allclose(r.rnn.bias_ih_l0 + r.rnn.bias_hh_l0, torch.ones(64))  # an RNN has no forget gate
    tiny = SequenceClassifier(1, 1, hidden_size=1, embed_dim=1)  # 1 is a valid size everywhere
    assert tiny(torch.zeros(2, 3, dtype=torch.long)).shape == (2, 1)
    assert _message(lambda: SequenceClassifier(8, 0)) == "expected num_classes to be a positive int, got 0"
    t = Tagger(20, 5, pad_id=3)
    assert (t.embed.embedding_dim, t.lstm.hidden_size, t.pad_id) == (64, 128, 3)
    torch.testing.assert_close((t.lstm.bias_ih_l0 + t.lstm.bias_hh_l0)[128:256], torch.ones(128))
    torch.testing.assert_close((t.lstm.bias_ih_l0_reverse + t.lstm.bias_hh_l0_reverse)[128:256], torch.ones(128))
