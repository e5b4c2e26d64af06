"""The benchmark scripts run end to end with tiny settings (so they do not rot).

These check that each script works and reports what it claims (a table, JSON with the run's
conditions, the charlm last-line contract); they time nothing and assert no speed.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
CONDITIONS = {"date", "machine", "threads", "torch", "device"}


def run(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("script", ["charlm.py", "cell.py", "generation.py", "book_build.py"])
def test_help(script: str) -> None:
    out = run(script, "--help").stdout
    assert "usage:" in out and "--json" in out


@pytest.fixture
def small_text(tmp_path: Path) -> Path:
    # a made-up play, long enough for a few batches; 10% of it is the validation part
    lines = [f"{who}:\nThe {what} is {how}, and so am I.\n" for who in ("ANNA", "BORIS", "CLEO")
             for what in ("moon", "sea", "king") for how in ("bright", "cold", "gone", "near")]
    path = tmp_path / "play.txt"
    path.write_text("\n".join(lines * 6), encoding="utf-8")
    return path


def test_charlm_trains_briefly_and_reports_held_out_loss(small_text: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "charlm.json"
    proc = run("charlm.py", "--text", str(small_text), "--seconds", "2", "--threads", "1",
               "--model-set", "hidden_size=16", "--model-set", "num_layers=1", "--model-set", "embed_dim=8",
               "--train-set", "batch_size=4", "--train-set", "bptt=16", "--json", str(out_json))
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("val_nats_per_char=")
    printed = float(last.split()[0].split("=")[1])
    rec = json.loads(out_json.read_text())
    assert CONDITIONS <= rec.keys() and rec["threads"] == 1
    assert rec["val_nats_per_char"] == pytest.approx(printed, abs=1e-4)
    assert rec["val_bits_per_char"] == pytest.approx(printed / math.log(2), abs=1e-3)
    assert rec["steps"] >= 1
    # the model learned something in 2 s: better than a uniform guess over the characters
    assert printed < math.log(rec["vocab_size"])
    # held-out split: the last 10% of the characters
    assert rec["val_chars"] == rec["text_chars"] - int(rec["text_chars"] * 0.9)
    assert rec["model_config"]["hidden_size"] == 16 and rec["train_config"]["max_seconds"] == 2


def test_charlm_rejects_bad_input(tmp_path: Path, small_text: Path) -> None:
    missing = run("charlm.py", "--text", str(tmp_path / "nope.txt"), "--seconds", "1", check=False)
    assert missing.returncode == 2 and "expected --text to be an existing file" in missing.stderr
    bad = run("charlm.py", "--text", str(small_text), "--seconds", "1", "--model-set", "colour=red", check=False)
    assert bad.returncode == 2 and "NAME one of" in bad.stderr


def test_cell_benchmark_compares_four_implementations(tmp_path: Path) -> None:
    out_json = tmp_path / "cell.json"
    proc = run("cell.py", "--batch", "2", "--steps", "4", "--hidden", "8", "--repeats", "1", "--threads", "1",
               "--json", str(out_json))
    rec = json.loads(out_json.read_text())
    names = [r["implementation"] for r in rec["results"]]
    assert names == ["hand (python loop)", "nn.LSTMCell loop", "scripted (TorchScript)", "nn.LSTM"]
    assert rec["results"][-1]["time_vs_nn_lstm"] == 1.0
    for r in rec["results"]:
        assert r["chars_per_s"] == pytest.approx(2 * 4 / r["seconds"])
        assert r["implementation"].split(" ")[0] in proc.stdout
    assert CONDITIONS <= rec.keys()


def test_generation_benchmark_times_both_samplers(tmp_path: Path) -> None:
    out_json = tmp_path / "gen.json"
    run("generation.py", "--lengths", "5,10", "--hidden", "16", "--layers", "1", "--threads", "1",
        "--json", str(out_json))
    rec = json.loads(out_json.read_text())
    got = [(r["method"], r["length"]) for r in rec["results"]]
    assert got == [("carried state", 5), ("carried state", 10), ("re-feed prefix", 5), ("re-feed prefix", 10)]
    assert all(r["seconds"] > 0 for r in rec["results"])
    assert rec["results"][0]["time_vs_first_length"] == 1.0
    bad = run("generation.py", "--lengths", "5,x", check=False)
    assert bad.returncode == 2 and "comma-separated integers" in bad.stderr


def test_book_build_rejects_a_folder_without_a_book(tmp_path: Path) -> None:
    proc = run("book_build.py", "--source", str(tmp_path), check=False)
    assert proc.returncode == 2 and "expected _config.yml and _toc.yml" in proc.stderr


@pytest.mark.slow
def test_book_build_times_a_tiny_book(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "book" / "_vendor").mkdir(parents=True)
    (src / "book" / "_vendor" / "VERSIONS").write_text("none needed\n")
    (src / "_config.yml").write_text("title: tiny\nexecute:\n  execute_notebooks: cache\n")
    (src / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/one\n")
    (src / "book" / "intro.md").write_text("# Intro\n\nA page without code.\n")
    (src / "book" / "one.md").write_text(textwrap.dedent("""\
        ---
        jupytext:
          text_representation:
            format_name: myst
        kernelspec:
          name: python3
          display_name: Python 3
        ---
        # One

        ```{code-cell}
        print(6 * 7)
        ```
        """))
    out_json = tmp_path / "book.json"
    proc = run("book_build.py", "--source", str(src), "--out", str(tmp_path / "out"), "--json", str(out_json))
    rec = json.loads(out_json.read_text())
    assert list(rec["chapters"]) == ["one"] and rec["chapters"]["one"] > 0
    assert rec["executed_in_cached_build"] == []  # the rebuild took the chapter from the cache
    assert rec["clean_build_wall_seconds"] > 0 and rec["cached_build_wall_seconds"] > 0
    assert "one" in proc.stdout
