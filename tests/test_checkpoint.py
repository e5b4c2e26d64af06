"""Behaviour of lstm_course.checkpoint: round trip, atomic writes, CPU loading, vocabulary checks, bad files."""
import torch
import torch.serialization
import pytest

from lstm_course.checkpoint import load_checkpoint, save_checkpoint
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.training import TrainConfig
from lstm_course.vocab import CharVocab

torch.set_num_threads(1)
TEXT = "to be, or not to be: that is the question.\n"


@pytest.fixture
def trained():
    torch.manual_seed(0)
    vocab = CharVocab.from_text(TEXT)
    config = CharLMConfig.tiny(vocab_size=len(vocab))
    model = CharLM(config)
    with torch.no_grad():  # weights unlike a fresh model's, so a round trip that re-initialises fails
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model, vocab, config


def test_round_trip_restores_weights_vocab_config_and_extra(tmp_path, trained):
    model, vocab, config = trained
    tc = TrainConfig.tiny(max_steps=7)
    path = save_checkpoint(tmp_path / "runs" / "m.pt", model, vocab, config,
                           extra={"train_config": tc, "step": 7, "val_loss": [2.5, 2.1]})
    assert path == tmp_path / "runs" / "m.pt" and path.is_file()  # parent directory created
    loaded, v2, c2, extra = load_checkpoint(path)
    assert isinstance(loaded, CharLM) and not loaded.training
    assert v2 == vocab and c2 == config
    assert extra == {"train_config": tc, "step": 7, "val_loss": [2.5, 2.1]}
    assert isinstance(extra["train_config"], TrainConfig)
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    x = vocab.encode(TEXT)[None, :]
    model.eval()
    assert torch.equal(model(x)[0], loaded(x)[0])


def test_passing_the_same_vocab_is_accepted(tmp_path, trained):
    model, vocab, config = trained
    save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    _, v2, _, _ = load_checkpoint(tmp_path / "m.pt", vocab=CharVocab.from_text(TEXT))
    assert v2 == vocab


def test_a_different_vocabulary_is_rejected_with_an_explanation(tmp_path, trained):
    model, vocab, config = trained
    save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    with pytest.raises(ValueError, match="different vocabulary") as err:
        load_checkpoint(tmp_path / "m.pt", vocab=CharVocab.from_text(TEXT + "XYZ"))
    assert "only in the given vocabulary: 'XYZ'" in str(err.value)
    reordered = CharVocab(list(reversed(vocab.itos)))
    with pytest.raises(ValueError, match="different order"):
        load_checkpoint(tmp_path / "m.pt", vocab=reordered)


def test_a_gpu_checkpoint_loads_on_the_cpu(tmp_path, trained, monkeypatch):
    model, vocab, config = trained
    # Tag every storage as living on cuda:0, exactly what torch.save writes for a GPU model.
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    save_checkpoint(tmp_path / "gpu.pt", model, vocab, config)
    monkeypatch.undo()
    if not torch.cuda.is_available():  # the file really is a GPU file: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "gpu.pt", weights_only=True)
    loaded, _, _, _ = load_checkpoint(tmp_path / "gpu.pt")
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert torch.equal(loaded.head.weight, model.head.weight)


def test_an_interrupted_save_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, trained, monkeypatch):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config, extra={"step": 1})
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, vocab, config, extra={"step": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_truncated_file_gives_a_clear_error(tmp_path, trained):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint .truncated or corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_a_torch_file_that_is_not_a_checkpoint_is_rejected(tmp_path):
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="expected an lstm_course checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_bad_arguments_to_save(tmp_path, trained):
    model, vocab, config = trained
    with pytest.raises(TypeError, match="expected vocab to be a CharVocab"):
        save_checkpoint(tmp_path / "m.pt", model, "abc", config)
    with pytest.raises(TypeError, match="expected config to be a dataclass"):
        save_checkpoint(tmp_path / "m.pt", model, vocab, {"vocab_size": 3})
    assert not (tmp_path / "m.pt").exists()
