"""Behaviour of lstm_course.checkpoint: round trip, atomic writes, CPU loading, vocabulary checks, bad files."""
import re
from pathlib import Path

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


# --- hostile checkpoints: a file a student downloaded must never run code ------------------------------
#
# Each case writes a checkpoint that, if the loader resolved the names it holds, would run
# `touch <marker>` (through a shell, os.system, or a pickle's __reduce__). The loader must refuse it
# with a clear ValueError, and the marker file must not exist afterwards: proof that nothing ran.

import os
import subprocess
import sys

from lstm_course.checkpoint import DATACLASSES, MODEL_CLASSES


def _payload(tmp_path, trained):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "good.pt", model, vocab, config, extra={"train_config": TrainConfig.tiny()})
    return torch.load(path, weights_only=True)


def _shell(marker):
    return {"__dataclass__": "lstm_course.corpus:subprocess.run",
            "fields": {"args": f"touch {marker}", "shell": True}}


def _os_system(marker):
    return {"__dataclass__": "lstm_course.device:os.system", "fields": {"command": f"touch {marker}"}}


def _hostile_payloads(marker):
    """(name, edit) pairs: edit(payload) turns a genuine payload into a hostile one."""
    def put(key, value):
        def edit(p):
            p[key] = value
        return edit

    def nested_in_config(p):  # hidden one level down, inside an allowed dataclass's field
        p["config"]["fields"]["dropout"] = _shell(marker)

    def nested_in_extra(p):  # deep inside plain containers
        p["extra"] = {"runs": [{"notes": (1, {"cfg": _shell(marker)})}]}

    return [
        ("callable through a module attribute (subprocess.run)", put("extra", {"x": _shell(marker)})),
        ("callable through a module attribute (os.system)", put("extra", {"x": _os_system(marker)})),
        ("callable as the config", put("config", _shell(marker))),
        ("callable as the model class", put("model_class", "lstm_course.corpus:subprocess.run")),
        ("attribute walk to a builtin", put("model_class", "lstm_course.models:torch.os.system")),
        ("a class that is not a dataclass", put("extra", {"x": {"__dataclass__": "lstm_course.models:CharLM",
                                                                "fields": {"config": None}}})),
        ("a non-dataclass class of the package", put("extra", {"x": {"__dataclass__": "lstm_course.vocab:CharVocab",
                                                                     "fields": {"chars": "ab"}}})),
        ("a class outside the package", put("extra", {"x": {"__dataclass__": "subprocess:Popen",
                                                            "fields": {"args": f"touch {marker}", "shell": True}}})),
        ("nested in an allowed config's field", nested_in_config),
        ("nested in plain containers", nested_in_extra),
    ]


@pytest.mark.parametrize("case", range(10))
def test_a_hostile_checkpoint_is_refused_and_runs_nothing(case, tmp_path, trained):
    marker = tmp_path / "pwned"
    name, edit = _hostile_payloads(marker)[case]
    payload = _payload(tmp_path, trained)
    edit(payload)
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="expected .*got") as err:
        load_checkpoint(tmp_path / "evil.pt")
    assert "(a checkpoint may not name other classes or functions)" in str(err.value), name
    assert not marker.exists(), f"{name}: the checkpoint ran a command"


class _Evil:
    """A pickle that runs a command when unpickled by a full (not weights-only) pickle load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_weights_only_refuses_is_refused_and_runs_nothing(tmp_path, trained):
    marker = tmp_path / "pwned"
    payload = _payload(tmp_path, trained)
    payload["extra"] = {"x": _Evil(marker)}
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="expected an lstm_course checkpoint holding only tensors and plain values"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()
    # the file really is a working exploit for a careless loader: that is what weights_only=True prevents
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_the_cli_refuses_a_hostile_checkpoint_in_one_line_and_runs_nothing(tmp_path, trained):
    marker = tmp_path / "pwned"
    payload = _payload(tmp_path, trained)
    payload["extra"] = {"x": _shell(marker)}
    torch.save(payload, tmp_path / "evil.pt")
    proc = subprocess.run([sys.executable, "-m", "lstm_course", "sample", "--checkpoint", "evil.pt", "--length", "5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "may not name other classes" in proc.stderr, proc.stderr
    assert not marker.exists()


def test_the_allow_lists_hold_only_the_package_config_dataclasses_and_charlm():
    import dataclasses

    assert sorted(DATACLASSES) == ["lstm_course.models:CharLMConfig", "lstm_course.training:History",
                                   "lstm_course.training:TrainConfig"]
    assert all(isinstance(c, type) and dataclasses.is_dataclass(c) for c in DATACLASSES.values())
    assert list(MODEL_CLASSES) == ["lstm_course.models:CharLM"]


def test_an_allowed_dataclass_with_bad_fields_is_a_clear_error(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["extra"]["train_config"]["fields"]["lr"] = "fast"
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="expected valid TrainConfig fields"):
        load_checkpoint(tmp_path / "bad.pt")
    payload["extra"]["train_config"]["fields"] = {"__init__": 1}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"expected fields of TrainConfig .*got unknown \['__init__'\]"):
        load_checkpoint(tmp_path / "bad.pt")


def test_a_vocabulary_size_that_disagrees_with_the_config_is_refused(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["vocab"]["itos"] = payload["vocab"]["itos"][:-1]  # one symbol fewer than the model's V
    torch.save(payload, tmp_path / "bad.pt")
    V = len(payload["vocab"]["itos"])
    with pytest.raises(ValueError, match=f"expected config.vocab_size to equal the saved vocabulary's {V} symbols, "
                                         f"got {V + 1}"):
        load_checkpoint(tmp_path / "bad.pt")


def test_weights_that_do_not_fit_the_config_are_a_clear_error(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["config"]["fields"]["hidden_size"] = 8
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="expected weights matching its CharLM config, got .*size mismatch"):
        load_checkpoint(tmp_path / "bad.pt")


def test_saving_what_could_not_be_loaded_is_refused_at_save_time(tmp_path, trained):
    import dataclasses

    model, vocab, config = trained

    @dataclasses.dataclass
    class Notes:
        text: str = "hi"

    with pytest.raises(TypeError, match="expected dataclasses from .*got .*Notes"):
        save_checkpoint(tmp_path / "m.pt", model, vocab, config, extra={"notes": Notes()})
    with pytest.raises(TypeError, match="expected a model class from"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2), vocab, config)
    with pytest.raises(TypeError, match="expected a CharLMConfig for a CharLM, got TrainConfig"):
        save_checkpoint(tmp_path / "m.pt", model, vocab, TrainConfig())
    assert not (tmp_path / "m.pt").exists()


def test_a_device_this_machine_lacks_is_named_as_such(tmp_path, trained):
    model, vocab, config = trained
    save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    with pytest.raises(ValueError, match="map_location: expected a device this machine has, got 'nonsense'"):
        load_checkpoint(tmp_path / "m.pt", map_location="nonsense")
    # a CUDA device that no machine has (on a CPU-only torch: "Torch not compiled with CUDA enabled")
    with pytest.raises(ValueError, match="map_location: expected a device this machine has, got 'cuda:99'"):
        load_checkpoint(tmp_path / "m.pt", map_location="cuda:99")


# --- every refusal says what it expected and what it got, naming the file --------------------------------

def _save_raw(tmp_path, obj, name="raw.pt"):
    torch.save(obj, tmp_path / name)
    return tmp_path / name


def test_files_that_are_not_checkpoints_are_named_with_what_they_hold(tmp_path):
    from lstm_course.checkpoint import FORMAT

    path = _save_raw(tmp_path, [1, 2, 3])
    with pytest.raises(ValueError, match=rf"^'{path}': expected an lstm_course checkpoint \(format '{FORMAT}'\), "
                                         r"got 'list'$"):
        load_checkpoint(path)
    path = _save_raw(tmp_path, {"format": "other/2", "weights": torch.ones(1)})
    with pytest.raises(ValueError, match=r"^'.*raw.pt': expected an lstm_course checkpoint .*got 'other/2'$"):
        load_checkpoint(path)
    path = _save_raw(tmp_path, {"format": FORMAT, "vocab": {"itos": ["a"]}})
    with pytest.raises(ValueError, match=r"^'.*raw.pt': expected an lstm_course checkpoint with \['model_class', "
                                         r"'model_state', 'config', 'extra'\] too, got a file without$"):
        load_checkpoint(path)


def test_unreadable_files_show_the_first_line_of_what_went_wrong(tmp_path, trained):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"^'{path}' is not a readable checkpoint \(truncated or corrupt file\?\): "
                                         r"EOFError$"):  # torch's EOFError has no message: its name stands in
        load_checkpoint(path)
    path.write_bytes(b"PK\x03\x04 not a zip")
    try:
        torch.load(path, weights_only=True)
    except Exception as e:  # what torch says, whatever its version: its first line ends the message
        first = str(e).strip().splitlines()[0]
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert str(err.value) == f"'{path}' is not a readable checkpoint (truncated or corrupt file?): {first}"
    path = _save_raw(tmp_path, {"x": _Evil(tmp_path / "pwned")})
    with pytest.raises(ValueError, match=rf"^'{path}': expected an lstm_course checkpoint holding only tensors and "
                                         r"plain values, got a file with other Python objects \(not written by "
                                         r"save_checkpoint\)$"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match=rf"^load_checkpoint: no checkpoint file at '{tmp_path}/nope.pt'$"):
        load_checkpoint(tmp_path / "nope.pt")


def test_refused_names_say_which_table_they_were_checked_against(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["model_class"] = "lstm_course.models:Tagger"
    path = _save_raw(tmp_path, payload)
    with pytest.raises(ValueError, match=rf"^'{path}': expected a model class from \['lstm_course.models:CharLM'\], "
                                         r"got 'lstm_course.models:Tagger' \(a checkpoint may not name other classes "
                                         r"or functions\)$"):
        load_checkpoint(path)
    payload = _payload(tmp_path, trained)
    payload["extra"] = {"x": {"__dataclass__": "lstm_course.vocab:CharVocab", "fields": {}}}
    path = _save_raw(tmp_path, payload)
    with pytest.raises(ValueError, match=r"^'.*': expected a configuration dataclass from \['lstm_course.models:"
                                         r"CharLMConfig', 'lstm_course.training:History', 'lstm_course.training:"
                                         r"TrainConfig'\], got 'lstm_course.vocab:CharVocab' \(a checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("stored", [
    {"__dataclass__": "lstm_course.training:TrainConfig", "fields": {}, "run": "x"},  # a key too many
    {"__dataclass__": "lstm_course.training:TrainConfig", "fields": ["lr", 1.0]},  # fields not a dict
    {"__dataclass__": "lstm_course.training:TrainConfig"},  # no fields
])
def test_a_malformed_stored_dataclass_is_refused(stored, tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["extra"] = {"x": stored}
    path = _save_raw(tmp_path, payload)
    keys = sorted(stored)
    with pytest.raises(ValueError, match=r"^'.*': expected a stored dataclass \{'__dataclass__': name, 'fields': "
                                         rf"dict\}}, got keys {re.escape(repr(keys))}$"):
        load_checkpoint(path)


def test_a_non_dataclass_in_the_table_would_still_be_refused(tmp_path, trained, monkeypatch):
    # the allow-list promises dataclass types only; the loader checks that promise instead of trusting it
    import lstm_course.checkpoint as ckpt

    monkeypatch.setitem(ckpt.DATACLASSES, "lstm_course.vocab:CharVocab", CharVocab)
    payload = _payload(tmp_path, trained)
    payload["extra"] = {"x": {"__dataclass__": "lstm_course.vocab:CharVocab", "fields": {"chars": "ab"}}}
    path = _save_raw(tmp_path, payload)
    with pytest.raises(ValueError, match=r"^'.*': expected a dataclass type, got <class 'lstm_course.vocab.CharVocab'>$"):
        load_checkpoint(path)


def test_bad_field_values_quote_the_dataclass_check(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["extra"]["train_config"]["fields"]["lr"] = -1.0
    path = _save_raw(tmp_path, payload)
    with pytest.raises(ValueError, match=r"^'.*': expected valid TrainConfig fields, got TrainConfig: expected "
                                         r"lr > 0, got -1.0$"):
        load_checkpoint(path)


def test_vocabulary_differences_are_described_exactly(tmp_path, trained):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    fewer = CharVocab([c for c in vocab.itos if c not in "qu"])
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, vocab=fewer)
    assert str(err.value).endswith(f": the checkpoint's vocabulary has {len(vocab)} symbols, the given one "
                                   f"{len(vocab) - 2}; only in the checkpoint: 'qu'")
    many = CharVocab(list(vocab.itos) + [chr(0x400 + i) for i in range(50)])  # 50 new symbols: 40 are shown
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, vocab=many)
    assert str(err.value).endswith("only in the given vocabulary: " + repr("".join(chr(0x400 + i) for i in range(40))))
    swapped = list(vocab.itos)
    swapped[3], swapped[5] = swapped[5], swapped[3]
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, vocab=CharVocab(swapped))
    assert str(err.value).endswith(f"same symbols in a different order (first difference at id 3: "
                                   f"{vocab.itos[3]!r} vs {vocab.itos[5]!r})")
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, vocab=CharVocab(vocab.itos, unk=vocab.itos[0]))
    assert str(err.value).endswith("; same symbols and order but a different unknown-character setting")


def test_map_location_puts_the_model_on_that_device(tmp_path, trained):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    for where in ("cpu", torch.device("cpu")):
        loaded, _, _, _ = load_checkpoint(path, map_location=where)
        assert all(p.device == torch.device("cpu") for p in loaded.parameters())
    with pytest.raises(ValueError, match=r"^map_location: expected a device this machine has, got 'nonsense' "
                                         r"\(Expected one of cpu, cuda.* device string: nonsense\)$"):
        load_checkpoint(path, map_location="nonsense")


def test_save_writes_its_temporary_file_beside_the_target_and_creates_missing_folders(tmp_path, trained, monkeypatch):
    # os.replace is atomic only within one file system: the temporary file must live in the target's folder
    model, vocab, config = trained
    seen = []
    real_replace = os.replace

    def recording_replace(src, dst):
        seen.append(Path(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    path = save_checkpoint(tmp_path / "a" / "b" / "m.pt", model, vocab, config)  # two missing levels
    monkeypatch.undo()
    assert path.is_file() and seen[0].parent == path.parent and seen[0] != path
    assert torch.load(path, weights_only=True)["torch_version"] == torch.__version__  # recorded for bug reports


def test_bad_arguments_to_save_name_the_type_given(tmp_path, trained):
    model, vocab, config = trained
    cases = [((42, vocab, config, None), "save_checkpoint: expected model to be an nn.Module, got int"),
             ((model, "abc", config, None), "save_checkpoint: expected vocab to be a CharVocab, got str"),
             ((model, vocab, [1], None), "save_checkpoint: expected config to be a dataclass instance, got list"),
             ((model, vocab, config, [1]), "save_checkpoint: expected extra to be a dict or None, got list")]
    for (m, v, c, e), message in cases:
        with pytest.raises(TypeError) as err:
            save_checkpoint(tmp_path / "m.pt", m, v, c, extra=e)
        assert str(err.value) == message
    with pytest.raises(TypeError, match=r"; store it as a plain dict \(dataclasses.asdict\) instead$"):
        import dataclasses

        save_checkpoint(tmp_path / "m.pt", model, vocab, config,
                        extra={"x": dataclasses.make_dataclass("Notes", [("text", str, "hi")])()})
    assert not (tmp_path / "m.pt").exists()


def test_inconsistent_checkpoints_name_the_file_and_the_mismatch(tmp_path, trained):
    model, vocab, config = trained
    payload = _payload(tmp_path, trained)
    payload["config"] = payload["extra"]["train_config"]  # a TrainConfig where the CharLMConfig belongs
    path = _save_raw(tmp_path, payload, "wrongconfig.pt")
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert str(err.value) == f"'{path}': expected a CharLMConfig for its CharLM, got TrainConfig"
    payload = _payload(tmp_path, trained)
    payload["vocab"]["itos"] = payload["vocab"]["itos"][:-1]
    path = _save_raw(tmp_path, payload, "fewer.pt")
    with pytest.raises(ValueError, match=rf"^'{path}': expected config.vocab_size"):
        load_checkpoint(path)
    good = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    with pytest.raises(ValueError, match=rf"^'{good}' was trained with a different vocabulary"):
        load_checkpoint(good, vocab=CharVocab.from_text("xyz"))
    # the checkpoint holds symbols the given vocabulary lacks: at most 40 of them are shown
    many = CharVocab.from_text("".join(chr(0x400 + i) for i in range(60)))
    big = CharLM(CharLMConfig.tiny(vocab_size=len(many)))
    save_checkpoint(tmp_path / "big.pt", big, many, big.config)
    with pytest.raises(ValueError) as err:
        load_checkpoint(tmp_path / "big.pt", vocab=CharVocab.from_text("ab"))
    assert ("only in the checkpoint: " + repr("".join(chr(0x400 + i) for i in range(40))) + ";") in str(err.value)


def test_weights_that_do_not_fit_quote_torch_up_to_300_characters(tmp_path, trained):
    payload = _payload(tmp_path, trained)
    payload["config"]["fields"]["hidden_size"] = 8  # every LSTM and head weight has the wrong shape: a long message
    path = _save_raw(tmp_path, payload)
    try:
        CharLM(CharLMConfig(**{**payload["config"]["fields"]})).load_state_dict(payload["model_state"])
    except RuntimeError as e:
        torch_says = " ".join(str(e).split())
    assert len(torch_says) > 300
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    assert str(err.value) == f"'{path}': expected weights matching its CharLM config, got {torch_says[:300]}"


def test_the_model_goes_to_map_location(tmp_path, trained):
    # "meta" is a device every torch has: tensors with shapes and no data, enough to see the move happen
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)
    loaded, _, _, _ = load_checkpoint(path, map_location="meta")
    assert {p.device.type for p in loaded.parameters()} == {"meta"}


def test_a_device_error_without_a_message_is_named_by_its_type(tmp_path, trained, monkeypatch):
    model, vocab, config = trained
    path = save_checkpoint(tmp_path / "m.pt", model, vocab, config)

    def no_device(*args, **kwargs):
        raise AssertionError  # what torch's CUDA stubs raise in some versions: no text at all

    monkeypatch.setattr(torch, "empty", no_device)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, map_location="cpu")
    assert str(err.value) == "map_location: expected a device this machine has, got 'cpu' (AssertionError)"
