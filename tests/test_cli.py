"""Behaviour of the command line: help, train → checkpoint → sample end to end, one-line errors (exit 2)."""
import os
import subprocess
import sys
from pathlib import Path

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


# --- Ctrl-C during `train`: the exit status says so, and an existing checkpoint is never replaced unasked -------
#
# Real processes and real SIGINTs. The launcher resets SIGINT to Python's own handler first: a test runner started
# in the background may pass SIGINT on as ignored, and then no Ctrl-C would reach the command at all.

import re
import signal
import threading
import time

LAUNCH = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
          "runpy.run_module('lstm_course', run_name='__main__', alter_sys=True)")
# saving made slow, with half a file already written, so that a second Ctrl-C lands inside save_checkpoint for sure
SLOW_SAVE = """
import sys, time, torch
real_save = torch.save
def slow_save(obj, f, *args, **kwargs):
    f.write(b"PK\\x03\\x04 half a checkpoint")
    f.flush()
    print("test: saving, half written", file=sys.stderr, flush=True)
    time.sleep(60)
    real_save(obj, f, *args, **kwargs)
torch.save = slow_save
"""
STEPS = "1000000"  # far more than a test waits for: only a Ctrl-C ends these runs


class Training:
    """``python -m lstm_course train`` on the tiny preset, its stdout and stderr read as they come."""

    def __init__(self, cwd, *args, before=""):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-c", before + LAUNCH, "train", "--text", "tiny.txt",
                                      "--preset", "tiny", "--steps", STEPS, *args],
                                     cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self._out, self._err = bytearray(), bytearray()
        self._readers = [threading.Thread(target=self._pump, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _pump(stream, sink):
        while chunk := os.read(stream.fileno(), 65536):
            sink.extend(chunk)

    @property
    def err(self) -> str:
        return bytes(self._err).decode(errors="replace")

    def wait_for(self, pattern, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(pattern, self.err):
                return m
            assert self.proc.poll() is None, f"exited {self.proc.returncode} first: {self.err[-2000:]}"
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"no {pattern!r} within {timeout} s: {self.err[-2000:]}")

    def wait_for_steps(self, n=5):
        """Until tqdm's bar shows at least ``n`` steps: training has really started."""
        deadline = time.monotonic() + 180
        while max(map(int, re.findall(rf"\| *(\d+)/{STEPS} ", self.err)), default=0) < n:
            assert time.monotonic() < deadline, self.err[-2000:]
            self.wait_for(rf"\| *\d+/{STEPS} ")
            time.sleep(0.05)

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout=120):
        try:
            rc = self.proc.wait(timeout)
        finally:
            self.proc.kill()
            for t in self._readers:
                t.join(10)
        return rc, bytes(self._out).decode(errors="replace"), self.err


@pytest.fixture
def workdir(tmp_path, trained):
    """A folder holding the corpus and a good checkpoint, m.pt, from the module's real training run."""
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "m.pt").write_bytes((trained[0] / "runs" / "m.pt").read_bytes())
    return tmp_path


def _files(d):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def _is_interrupted_checkpoint(path, at_least=5):
    _, _, _, extra = load_checkpoint(path)
    return extra["interrupted"] is True and extra["steps"] >= at_least


def test_ctrl_c_keeps_an_existing_checkpoint_and_saves_the_partial_model_beside_it(workdir):
    good = (workdir / "m.pt").read_bytes()
    run = Training(workdir, "--out", "m.pt")
    run.wait_for_steps()
    run.interrupt()
    rc, out, err = run.finish()
    assert rc == 130, err[-2000:]
    assert (workdir / "m.pt").read_bytes() == good
    assert _files(workdir) == ["m.interrupted.pt", "m.pt", "tiny.txt"]  # no temporary file either
    assert _is_interrupted_checkpoint(workdir / "m.interrupted.pt")
    assert "m.interrupted.pt" in err and "--save-on-interrupt" in err and "Traceback" not in err


def test_ctrl_c_with_save_on_interrupt_replaces_out_and_still_exits_130(workdir):
    good = (workdir / "m.pt").read_bytes()
    run = Training(workdir, "--out", "m.pt", "--save-on-interrupt")
    run.wait_for_steps()
    run.interrupt()
    rc, out, err = run.finish()
    assert rc == 130, err[-2000:]
    assert (workdir / "m.pt").read_bytes() != good and _is_interrupted_checkpoint(workdir / "m.pt")
    assert _files(workdir) == ["m.pt", "tiny.txt"]


def test_ctrl_c_without_an_existing_out_saves_there_and_exits_130(workdir):
    run = Training(workdir, "--out", "runs/new.pt")
    run.wait_for_steps()
    run.interrupt()
    rc, out, err = run.finish()
    assert rc == 130, err[-2000:]
    assert _is_interrupted_checkpoint(workdir / "runs" / "new.pt")
    assert _files(workdir) == ["m.pt", "runs/new.pt", "tiny.txt"]


@pytest.mark.parametrize("replace", [False, True], ids=["beside", "save-on-interrupt"])
def test_a_second_ctrl_c_while_saving_writes_nothing_and_exits_130(replace, workdir):
    good = (workdir / "m.pt").read_bytes()
    run = Training(workdir, "--out", "m.pt", *(["--save-on-interrupt"] if replace else []), before=SLOW_SAVE)
    run.wait_for_steps()
    run.interrupt()
    run.wait_for("test: saving, half written")
    run.interrupt()
    rc, out, err = run.finish()
    assert rc == 130, err[-2000:]
    assert (workdir / "m.pt").read_bytes() == good
    assert _files(workdir) == ["m.pt", "tiny.txt"]  # neither the half file nor its temporary name is left
    assert "Traceback" not in err


def test_two_quick_ctrl_cs_never_touch_the_existing_checkpoint(workdir):
    # wherever the second one lands (still stopping, saving, or done), nothing half-written is left
    good = (workdir / "m.pt").read_bytes()
    run = Training(workdir, "--out", "m.pt")
    run.wait_for_steps()
    run.interrupt()
    time.sleep(0.02)
    run.interrupt()
    rc, out, err = run.finish()
    assert rc in (130, -signal.SIGINT), err[-2000:]  # -SIGINT: it came after main() had returned 130
    assert (workdir / "m.pt").read_bytes() == good
    assert set(_files(workdir)) <= {"m.pt", "m.interrupted.pt", "tiny.txt"}
    if (workdir / "m.interrupted.pt").exists():
        assert _is_interrupted_checkpoint(workdir / "m.interrupted.pt", at_least=1)


def test_an_interrupted_run_evaluates_nothing_and_never_overwrites_a_name(tmp_path, monkeypatch, capsys):
    # in-process: the fake train_lm is Ctrl-C'ed mid-run and, like train_lm, stops and returns what it has
    import lstm_course.cli as cli
    from lstm_course.training import History

    def interrupted_train_lm(model, train_ids, val_ids, config, progress=True):
        history = History()
        try:
            for step in range(1, 1000):
                history.step.append(step)
                history.train_loss.append(2.0)
                if step == 7:
                    signal.raise_signal(signal.SIGINT)
                    time.sleep(5)  # the KeyboardInterrupt arrives before this ends
        except KeyboardInterrupt:
            pass
        return history

    def evaluate_lm(*args, **kwargs):
        raise AssertionError("an interrupted run evaluated the model")

    monkeypatch.setattr(cli, "train_lm", interrupted_train_lm)
    monkeypatch.setattr(cli, "evaluate_lm", evaluate_lm)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    for name in ("m.pt", "m.interrupted.pt"):
        (tmp_path / name).write_bytes(name.encode())
    assert main(["train", "--text", "tiny.txt", "--out", "m.pt", "--preset", "tiny", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert (tmp_path / "m.pt").read_bytes() == b"m.pt"
    assert (tmp_path / "m.interrupted.pt").read_bytes() == b"m.interrupted.pt"
    assert _is_interrupted_checkpoint(tmp_path / "m.interrupted-2.pt", at_least=7)
    assert "m.interrupted-2.pt" in err and "Traceback" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI's own handler is gone again


# --- unusable --out paths are refused before anything is loaded or trained -------------------------------------

@pytest.mark.parametrize("out,needle", [
    ("tiny.txt/m.pt", "--out: expected a path under a directory, got 'tiny.txt', which is a file"),
    ("tiny.txt/runs/deeper/m.pt", "--out: expected a path under a directory, got 'tiny.txt', which is a file"),
    ("runs", "--out: expected a file path, got the directory 'runs'"),
    # as root, os.access says yes to both; creating a file there says no, for every user
    ("/proc/lstm-course-test/m.pt", "--out: expected a directory this user can write in, got '/proc'"),
    ("/sys/m.pt", "--out: expected a directory this user can write in, got '/sys'"),
])
def test_an_unusable_out_is_refused_before_training_starts(out, needle, tmp_path, monkeypatch, capsys):
    import lstm_course.cli as cli

    if out.startswith("/") and not Path("/" + out.split("/")[1]).is_dir():
        pytest.skip(f"no {out.split('/')[1]} on this system")
    from lstm_course.training import History

    started = []
    monkeypatch.setattr(cli, "load_text", lambda *a, **k: started.append("load_text") or TEXT)
    monkeypatch.setattr(cli, "train_lm", lambda *a, **k: started.append("train_lm") or History())
    monkeypatch.setattr(cli, "evaluate_lm", lambda *a, **k: 1.0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "runs").mkdir()
    rc = main(["train", "--text", "tiny.txt", "--out", out, "--preset", "tiny", "--quiet"])
    err = capsys.readouterr().err
    assert_one_line_error(rc, err, needle)
    assert started == [] and "corpus:" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "tiny.txt"] and not any((tmp_path / "runs").iterdir())
