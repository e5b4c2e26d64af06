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
    with pytest.raises(ValueError, match=r"expected weights matching its CharLM config, got lstm.weight_ih_l0 of "
                                         r"shape \(128, 16\) where the config means \(32, 16\)$"):
        load_checkpoint(tmp_path / "bad.pt")  # found from the shapes alone, before a model is built


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
                                         r"expected a zip archive as torch.save writes, got an empty file$"):
        load_checkpoint(path)
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match=rf"^'{path}' is not a readable checkpoint \(truncated or corrupt file\?\): "
                                         r"expected a zip archive as torch.save writes, got File is not a zip file$"):
        load_checkpoint(path)  # read by zipfile before torch: torch's legacy format allocates what a file declares
    import zipfile

    with zipfile.ZipFile(path, "w") as z:  # a zip, but not torch's
        z.writestr("hello.txt", "hi")
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


def test_weights_that_torch_refuses_quote_torch_up_to_300_characters(tmp_path, trained, monkeypatch):
    # the shape check finds every mismatch first; load_state_dict's own message stays the backstop behind it
    import lstm_course.checkpoint as ckpt

    monkeypatch.setattr(ckpt, "_check_weights", lambda state, config: None)
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


# --- bounded cost: a crafted file costs about what it holds, and is refused in well under seconds ----------
#
# The loader checks the stored configuration against the saved tensors (names, shapes, the bytes behind
# them) and against sane limits before any model exists, so the model it builds is never bigger than the
# file. Each crafted file below is measured in a fresh process (time, tracemalloc's peak for Python objects,
# ru_maxrss for everything torch allocates), under a 1 GiB RLIMIT_DATA so that a loader without the checks
# fails here instead of taking the machine's memory.

import json
import resource

_COST_PROBE = r"""
import json, resource, sys, time, tracemalloc
import torch
torch.set_num_threads(1)
from lstm_course.checkpoint import load_checkpoint
load_checkpoint(sys.argv[1])  # a genuine file first: torch's lazy set-up is not charged to the crafted ones
for path in sys.argv[2:]:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        load_checkpoint(path)
        outcome = "loaded"
    except BaseException as e:
        outcome = f"{type(e).__name__}: {e}"[:400]
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024
    print(json.dumps({"path": path, "outcome": outcome, "seconds": seconds, "python_peak": peak, "rss_growth": rss}),
          flush=True)
"""


def _limit_data():
    resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30))


def _crafted_files(tmp_path, trained):
    """(file name, edit, what the refusal must say) for files crafted to cost far more than their size."""
    def bigger_config(**fields):
        def edit(p):
            p["config"]["fields"].update(fields)
        return edit

    def hollow_tensors(p):  # H = 20000 with every tensor of the right shape, each a stride-0 view of 4 bytes
        H, E, V = 20000, 16, len(p["vocab"]["itos"])
        p["config"]["fields"]["hidden_size"] = H
        s = p["model_state"]
        for k, shape in {"lstm.weight_ih_l0": (4 * H, E), "lstm.weight_hh_l0": (4 * H, H), "lstm.bias_ih_l0": (4 * H,),
                         "lstm.bias_hh_l0": (4 * H,), "head.weight": (V, H)}.items():
            s[k] = torch.zeros(1).expand(*shape)

    def aliased_layers(p):  # 64 layers of H = 128 whose 256 matrices all view one 256 KiB storage
        H, E = 128, 16
        p["config"]["fields"].update(hidden_size=H, num_layers=64)
        s = {k: v for k, v in p["model_state"].items() if not k.startswith("lstm.")}
        shared = torch.zeros(4 * H, H)
        for layer in range(64):
            s[f"lstm.weight_ih_l{layer}"] = shared[:, :E] if layer == 0 else shared
            s[f"lstm.weight_hh_l{layer}"] = shared
            s[f"lstm.bias_ih_l{layer}"] = shared[0].repeat(4)[:4 * H]
            s[f"lstm.bias_hh_l{layer}"] = shared[0].repeat(4)[:4 * H]
        s["head.weight"] = torch.zeros(len(p["vocab"]["itos"]), H)
        p["model_state"] = s

    def shared_references(p):  # 40 levels of [x, x]: 1.5 KB of pickle, 2**40 values when walked as a tree
        x = [None]
        for _ in range(40):
            x = [x, x]
        p["extra"] = {"notes": x}

    def zeros_to_deflate(p):  # 50 MB of zeros, deflated below to a file of about 50 KB
        p["extra"] = {"pad": torch.zeros(12_500_000)}

    def repeated_symbol(p):  # 300,000 references to one string: each duplicate check by list.count is O(n)
        p["vocab"]["itos"] = ["a"] * 300_000
        p["config"]["fields"]["vocab_size"] = 300_000

    return [
        ("hidden20000.pt", bigger_config(hidden_size=20000), "expected weights matching its CharLM config"),
        ("layers1e6.pt", bigger_config(num_layers=10**6), "expected config.num_layers <= "),
        ("hollow.pt", hollow_tensors, "expected weights backed by the file's own data"),
        ("aliased.pt", aliased_layers, "expected weights backed by the file's own data"),
        ("shared.pt", shared_references, "expected at most"),
        ("repeated.pt", repeated_symbol, "expected distinct characters in the vocabulary, got 'a' more than once"),
        ("deflated.pt", zeros_to_deflate, "expected members stored as torch.save writes them, got "),
    ]


def _deflate(path):
    """Rewrite a torch.save archive with every member compressed: what torch.save never writes, torch.load reads."""
    import zipfile

    with zipfile.ZipFile(path) as src:
        members = [(m.filename, src.read(m.filename)) for m in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in members:
            dst.writestr(name, data)


def test_crafted_checkpoints_are_refused_fast_and_cost_about_their_own_size(tmp_path, trained):
    crafted = _crafted_files(tmp_path, trained)
    for name, edit, _ in crafted:
        payload = _payload(tmp_path, trained)
        edit(payload)
        _save_raw(tmp_path, payload, name)
    _deflate(tmp_path / "deflated.pt")
    proc = subprocess.run([sys.executable, "-c", _COST_PROBE, str(tmp_path / "good.pt"),
                           *(str(tmp_path / name) for name, _, _ in crafted)],
                          capture_output=True, text=True, timeout=240, preexec_fn=_limit_data,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = {Path(r["path"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    for name, _, needle in crafted:
        r, size = results[name], (tmp_path / name).stat().st_size
        assert r["outcome"].startswith(f"ValueError: '{tmp_path / name}': ") and needle in r["outcome"], r
        assert "\n" not in r["outcome"], r  # one line for the CLI to print
        assert r["seconds"] < 5, r  # milliseconds on an idle machine; the margin is for a busy one
        assert r["python_peak"] < 10 * size + (1 << 20), (size, r)
        assert r["rss_growth"] < 10 * size + (16 << 20), (size, r)  # 16 MiB: the allocator's own growth


def _edit_and_save(tmp_path, trained, edit, name="bad.pt"):
    payload = _payload(tmp_path, trained)
    edit(payload)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)  # pickle recurses too: a deeply nested value needs this to be written at all
    try:
        return _save_raw(tmp_path, payload, name)
    finally:
        sys.setrecursionlimit(limit)


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(p):
        d = p
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value(d[keys[-1]]) if callable(value) else value
    return edit


def _deep(p):  # 5,000 nested lists: a RecursionError, not a message, for a recursive walk
    x = []
    for _ in range(5000):
        x = [x]
    p["extra"] = {"notes": x}


def _nan_at(key, value):
    def edit(p):
        p["model_state"][key] = p["model_state"][key].clone()
        p["model_state"][key].view(-1)[3] = value
    return edit


MALFORMED = [
    ("itos an int", _set("vocab", "itos", 5), r"expected vocab\['itos'\] to be a list of characters, got int"),
    ("vocab a string", _set("vocab", "abc"), r"expected a dict with key 'itos' .*, got 'abc'"),
    ("unk a number", _set("vocab", "unk", 7), r"expected unk to be one character, got 7"),
    ("dropout a string", _set("config", "fields", "dropout", "high"),
     r"expected config.dropout to be a number in \[0, 1\), got 'high'"),
    ("hidden_size a float", _set("config", "fields", "hidden_size", 32.0),
     r"expected config.hidden_size to be a positive int, got 32.0"),
    ("num_layers a bool", _set("config", "fields", "num_layers", True),
     r"expected config.num_layers to be a positive int, got True"),
    ("tie_weights a string", _set("config", "fields", "tie_weights", "no"),
     r"expected config.tie_weights to be True or False, got 'no'"),
    ("forget_bias a list", _set("config", "fields", "forget_bias", [1.0]),
     r"expected config.forget_bias to be a finite number, got \[1.0\]"),
    ("embed_dim too large", _set("config", "fields", "embed_dim", 10**7),
     r"expected config.embed_dim <= 65536, got 10000000"),
    ("config missing a field", _set("config", "fields", lambda f: {k: v for k, v in f.items() if k != "hidden_size"}),
     r"expected weights matching its CharLM config"),  # the default H = 256 does not fit the saved (128, 32)
    ("model_state a list", _set("model_state", lambda s: list(s.values())),
     r"expected model_state to be a dict of tensors, got list"),
    ("a weight that is a string", _set("model_state", "head.bias", "zeros"),
     r"expected model_state\['head.bias'\] to be a tensor, got str"),
    ("a weight missing", _set("model_state", lambda s: {k: v for k, v in s.items() if k != "head.bias"}),
     r"expected weights matching its CharLM config, got 6 tensors for 7 .*missing \['head.bias'\]"),
    ("an integer weight", _set("model_state", "head.bias", lambda t: t.long()),
     r"expected floating-point weights, got torch.int64 in 'head.bias'"),
    ("a NaN weight", _nan_at("lstm.weight_hh_l0", float("nan")),
     r"expected finite weights, got 1 NaN or infinite value\(s\) in 'lstm.weight_hh_l0'"),
    ("an infinite weight", _nan_at("embed.weight", float("-inf")),
     r"expected finite weights, got 1 NaN or infinite value\(s\) in 'embed.weight'"),
    ("extra an int", _set("extra", 3), r"expected extra to be a dict, got int"),
    ("extra nested 5,000 deep", _deep, r"expected stored values nested at most \d+ deep, got deeper"),
]


@pytest.mark.parametrize("name,edit,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_every_malformed_field_is_one_line_naming_the_checkpoint(name, edit, message, tmp_path, trained):
    path = _edit_and_save(tmp_path, trained, edit)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert re.match(rf"^'{re.escape(str(path))}': .*{message}", text), text
    assert "\n" not in text and len(text) < 600, text


@pytest.mark.parametrize("name,edit,message", [MALFORMED[i] for i in (0, 3, 7, 14)],
                         ids=["itos", "dropout", "forget_bias", "nan"])
def test_the_cli_turns_a_malformed_checkpoint_into_one_line_and_exit_2(name, edit, message, tmp_path, trained, capsys):
    from lstm_course.cli import main

    path = _edit_and_save(tmp_path, trained, edit)
    rc = main(["sample", "--checkpoint", str(path), "--length", "5"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"lstm_course sample: error: '{path}': "), \
        captured.err
    assert re.search(message, captured.err) and "Traceback" not in captured.err


@pytest.mark.parametrize("field,value", [("hidden_size", 20000), ("num_layers", 10**6)])
def test_the_cli_refuses_an_oversized_config_in_one_line_within_seconds(field, value, tmp_path, trained):
    # a real process under the 1 GiB data limit: a loader that builds first fails or hangs here, not the test run
    path = _edit_and_save(tmp_path, trained, _set("config", "fields", field, value))
    proc = subprocess.run([sys.executable, "-m", "lstm_course", "sample", "--checkpoint", str(path), "--length", "5"],
                          capture_output=True, text=True, timeout=120, preexec_fn=_limit_data,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr[-1000:]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"lstm_course sample: error: '{path}': "), \
        proc.stderr[-1000:]


def test_the_tied_weights_of_a_genuine_checkpoint_still_load(tmp_path):
    # embed.weight and head.weight share one storage: the one sharing the bytes check allows
    vocab = CharVocab.from_text(TEXT)
    config = CharLMConfig(vocab_size=len(vocab), embed_dim=24, hidden_size=24, num_layers=3, tie_weights=True,
                          dropout=0.1)
    model = CharLM(config)
    path = save_checkpoint(tmp_path / "tied.pt", model, vocab, config)
    loaded, _, c2, _ = load_checkpoint(path)
    assert c2 == config and loaded.head.weight is loaded.embed.weight
    assert torch.equal(loaded.head.weight, model.head.weight)
