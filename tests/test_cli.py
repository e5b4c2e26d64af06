"""Behaviour of the command line: help, train → checkpoint → sample end to end, one-line errors (exit 2)."""
import os
import subprocess
import sys

import pytest
import torch

from lstm_course.checkpoint import load_checkpoint
from lstm_course.cli import main
from lstm_course.training import TrainConfig
from lstm_course.vocab import CharVocab

TEXT = "to be, or not to be, that is the question.\n" * 40  # 1,760 characters, 17 distinct


def run_cli(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lstm_course", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once with the real command (a subprocess, as a student would run it)."""
    d = tmp_path_factory.mktemp("cli")
    (d / "tiny.txt").write_text(TEXT, encoding="utf-8")
    proc = run_cli("train", "--text", "tiny.txt", "--out", "runs/m.pt", "--preset", "tiny", "--steps", "15",
                   "--quiet", cwd=d)
    return d, proc


def test_train_writes_a_loadable_checkpoint(trained):
    d, proc = trained
    assert proc.returncode == 0, proc.stderr
    assert "saved" in proc.stdout and "bits/char" in proc.stdout
    model, vocab, config, extra = load_checkpoint(d / "runs" / "m.pt")
    assert vocab == CharVocab.from_text(TEXT)
    assert config.vocab_size == len(vocab)
    assert extra["steps"] == 15 and len(extra["history"]["train_loss"]) == 15
    assert isinstance(extra["train_config"], TrainConfig) and extra["train_config"].max_steps == 15
    assert os.listdir(d / "runs") == ["m.pt"]  # the atomic write left no temporary file


def test_sample_from_the_trained_checkpoint(trained, tmp_path):
    d, _ = trained
    proc = run_cli("sample", "--checkpoint", str(d / "runs" / "m.pt"), "--prompt", "to be", "--length", "60",
                   "--seed", "3", "--temperature", "0.8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("to be")
    body = out[len("to be"):]
    generated = body[:-1] if body.endswith("\n") and len(body) == 61 else body
    assert len(generated) == 60 and set(generated) <= set(TEXT)


def test_sampling_with_a_seed_is_reproducible(trained, capsys):
    d, _ = trained
    args = ["sample", "--checkpoint", str(d / "runs" / "m.pt"), "--length", "40", "--seed", "7", "--top-k", "5"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert main(args[:-4] + ["--seed", "8", "--temperature", "2.0"]) == 0
    assert capsys.readouterr().out != first  # a different seed (and temperature) gives another text


@pytest.mark.parametrize("command", ["train", "sample"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    expected = ["--text", "--out", "--preset", "--seconds", "--steps", "--device"] if command == "train" else \
        ["--checkpoint", "--prompt", "--length", "--temperature", "--top-k", "--top-p", "--seed"]
    for flag in expected:
        assert flag in out


def assert_one_line_error(rc, err, needle):
    assert rc == 2
    # train's one informative line ("corpus: …") may precede an error found once training starts
    lines = [line for line in err.strip().splitlines() if not line.startswith("corpus: ")]
    assert len(lines) == 1, err
    assert "error:" in lines[0] and needle in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("args,needle", [
    ([], "required"),
    (["train", "--out", "m.pt"], "--text"),
    (["train", "--text", "missing.txt", "--out", "m.pt", "--preset", "tiny"], "missing.txt"),
    (["train", "--text", "tiny.txt", "--out", "m.pt", "--steps", "0"], "positive integer"),
    (["train", "--text", "tiny.txt", "--out", "m.pt", "--seconds", "soon"], "positive number"),
    (["train", "--text", "tiny.txt", "--out", "m.pt", "--preset", "huge"], "invalid choice"),
    (["train", "--text", "tiny.txt", "--out", ".", "--preset", "tiny"], "directory"),
    (["train", "--text", "one.txt", "--out", "m.pt", "--preset", "tiny"], "one distinct"),
    (["train", "--text", "empty.txt", "--out", "m.pt", "--preset", "tiny"], "empty"),
    (["train", "--text", "latin1.txt", "--out", "m.pt", "--preset", "tiny"], "expected UTF-8 text, got byte 0xe9"),
    (["train", "--text", "short.txt", "--out", "m.pt", "--preset", "tiny"], "too short for batch_size=4"),
    (["sample", "--checkpoint", "missing.pt"], "missing.pt"),
    (["sample", "--checkpoint", "corrupt.pt"], "truncated or corrupt"),
])
def test_bad_input_gives_one_line_and_exit_2(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "one.txt").write_text("aaaa", encoding="utf-8")
    (tmp_path / "empty.txt").write_text(" \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "short.txt").write_text("to be\n", encoding="utf-8")  # 4 training characters, the tiny batch is 4
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 not really a zip")
    rc = main(args)
    assert_one_line_error(rc, capsys.readouterr().err, needle)
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("extra,needle", [
    (["--prompt", "XYZ"], "'X'"),  # a character the vocabulary does not have
    (["--temperature", "-1"], "temperature"),
    (["--top-p", "1.5"], "top_p"),
])
def test_bad_sampling_arguments(extra, needle, trained, capsys):
    d, _ = trained
    rc = main(["sample", "--checkpoint", str(d / "runs" / "m.pt"), "--length", "5", *extra])
    assert_one_line_error(rc, capsys.readouterr().err, needle)


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = run_cli("sample", "--checkpoint", "nope.pt", cwd=tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, "nope.pt")
    assert proc.stdout == ""


# --- the contract kept: devices, empty --text, inconsistent checkpoints, precision ----------------------

def test_a_device_this_machine_lacks_is_one_line_for_train_and_sample(trained, tmp_path, monkeypatch, capsys):
    d, _ = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    # cuda:99 exists nowhere: on a CPU-only torch "Torch not compiled with CUDA enabled", else a bad ordinal
    rc = main(["train", "--text", "tiny.txt", "--out", "m.pt", "--preset", "tiny", "--device", "cuda:99"])
    assert_one_line_error(rc, capsys.readouterr().err, "--device: expected a device this machine has, got 'cuda:99'")
    assert not (tmp_path / "m.pt").exists()
    rc = main(["sample", "--checkpoint", str(d / "runs" / "m.pt"), "--device", "cuda:99"])
    err = capsys.readouterr().err
    assert_one_line_error(rc, err, "--device: expected a device this machine has, got 'cuda:99'")
    assert "corrupt" not in err  # a device problem, not a damaged file


def test_an_empty_text_source_is_refused_instead_of_reading_the_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")  # Path("") is "." and would find this file
    for text in ("", "  "):
        rc = main(["train", "--text", text, "--out", "m.pt", "--preset", "tiny", "--steps", "1", "--quiet"])
        assert_one_line_error(rc, capsys.readouterr().err, "--text: expected 'shakespeare', a text file, a directory "
                                                           "or a URL, got an empty string")
    assert not (tmp_path / "m.pt").exists()


def test_a_checkpoint_whose_vocabulary_disagrees_with_its_config_is_one_line(trained, tmp_path, capsys):
    d, _ = trained
    payload = torch.load(d / "runs" / "m.pt", weights_only=True)
    payload["vocab"]["itos"] = payload["vocab"]["itos"][:-2]
    torch.save(payload, tmp_path / "bad.pt")
    rc = main(["sample", "--checkpoint", str(tmp_path / "bad.pt"), "--length", "20"])
    assert_one_line_error(rc, capsys.readouterr().err, "expected config.vocab_size to equal the saved vocabulary's")


def test_help_shows_percentages_and_the_training_precision(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "90% train, 5% validation, 5% test" in out and "%%" not in out
    assert "amp_dtype='auto'" in out and "bfloat16 autocast" in out and "float32" in out
    assert "--amp {auto,bfloat16,float32}" in out


@pytest.mark.parametrize("preset,amp,expected", [
    ("shakespeare", None, "auto"),  # the package's measured default (TrainConfig.amp_dtype)
    ("shakespeare", "float32", None),
    ("shakespeare", "bfloat16", "bfloat16"),
    ("tiny", None, None),  # the tiny preset's own float32
    ("tiny", "auto", "auto"),
])
def test_train_uses_the_preset_defaults_and_amp_overrides_only_the_precision(preset, amp, expected, tmp_path,
                                                                            monkeypatch, capsys):
    import lstm_course.cli as cli
    from lstm_course.training import History

    seen = {}

    def fake_train_lm(model, train_ids, val_ids, config, progress=True):
        seen["config"] = config
        return History()

    monkeypatch.setattr(cli, "train_lm", fake_train_lm)
    monkeypatch.setattr(cli, "evaluate_lm", lambda *a, **k: 1.0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    args = ["train", "--text", "tiny.txt", "--out", "m.pt", "--preset", preset, "--quiet"]
    assert main(args + (["--amp", amp] if amp else [])) == 0
    base = TrainConfig.shakespeare() if preset == "shakespeare" else TrainConfig.tiny()
    assert seen["config"] == TrainConfig(**{**base.to_dict(), "amp_dtype": expected})
    err = capsys.readouterr().err
    assert ("bfloat16 autocast" in err) == (expected == "bfloat16" or (expected == "auto" and cli.resolve_amp_dtype(
        "auto", cli.get_device()) == "bfloat16"))  # the start line says what precision it trains in
    assert load_checkpoint(tmp_path / "m.pt")[3]["train_config"].amp_dtype == expected
