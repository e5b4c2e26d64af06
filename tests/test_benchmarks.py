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
import torch

from lstm_course.checkpoint import load_checkpoint
from lstm_course.training import evaluate_lm

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
CONDITIONS = {"date", "machine", "threads", "torch", "device"}


def run(script: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("script", ["charlm.py", "cell.py", "generation.py", "book_build.py", "peer.py"])
def test_help(script: str) -> None:
    out = run(script, "--help").stdout
    assert "usage:" in out and "--json" in out


# ------------------------------------------------------------ report.py (what the Speed chapter shows)

def _conditions(date: str) -> dict:
    return {"date": date, "machine": "Test CPU 9000", "cpu_flags": ["avx2", "avx512_bf16"], "logical_cpus": 2,
            "threads": 2, "torch": "2.13.0+cpu", "device": "cpu", "load_average": [0.5, 0.25, 0.125]}


def test_report_shows_every_recorded_figure_with_its_conditions(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from report import load_results, results_markdown
    finally:
        sys.path.remove(str(BENCH))
    records = {
        "charlm.json": {"benchmark": "charlm", "text": "/x/tiny.txt", "budget_seconds": 180.0, "steps": 777,
                        "parameters": 3322497, "chars_per_second": 21234.6, "epochs": 3.25,
                        "train_loss_last50": 1.6125, "val_nats_per_char": 1.6789, "val_bits_per_char": 2.4221,
                        "amp_dtype_used": "bfloat16", "model_config": {"num_layers": 2, "hidden_size": 512,
                        "embed_dim": 64, "dropout": 0.0}, "train_config": {"batch_size": 64, "bptt": 64,
                        "lr": 0.004, "amp_dtype": "auto"}, **_conditions("2026-01-01T00:00:00+00:00")},
        "cell.json": {"benchmark": "cell", "B": 32, "T": 128, "H": 256, "results": [
            {"implementation": "hand (python loop)", "seconds": 0.0987, "chars_per_s": 41500.0, "time_vs_nn_lstm": 1.625},
            {"implementation": "nn.LSTM", "seconds": 0.0607, "chars_per_s": 67500.0, "time_vs_nn_lstm": 1.0}],
            **_conditions("2026-01-02T00:00:00+00:00")},
        "generation.json": {"benchmark": "generation", "layers": 2, "hidden": 512, "results": [
            {"method": "carried state", "length": 500, "seconds": 0.5},
            {"method": "carried state", "length": 2000, "seconds": 2.25},
            {"method": "re-feed prefix", "length": 500, "seconds": 12.5},
            {"method": "re-feed prefix", "length": 2000, "seconds": 175.0}], **_conditions("2026-01-03T00:00:00+00:00")},
        "book_build.json": {"benchmark": "book_build", "chapters": {"01_why_gates": 41.5}, "chapters_total_seconds": 41.5,
                            "clean_build_wall_seconds": 63.25, "cached_build_wall_seconds": 9.75,
                            **_conditions("2026-01-04T00:00:00+00:00")},
        "peer.json": {"benchmark": "peer", "text": "/x/tiny.txt", "budget_seconds": 180.0, "seeds": [0, 1], "window": 128,
                      "runs": [{"model": "lstm", "model_config": {"num_layers": 1, "hidden_size": 384}},
                               {"model": "transformer", "model_config": {"n_layer": 4, "n_embd": 192, "block_size": 128}}],
                      "summary": {
                          "lstm": {"parameters": 720385, "runs": 2, "steps": {"mean": 9000.5}, "chars_per_second": {"mean": 46000.25},
                                   "val_nats_windows": {"mean": 1.4613, "sd": 0.0125, "min": 1.4525, "max": 1.47},
                                   "val_nats_carried": {"mean": 1.45, "sd": 0.01, "min": 1.443, "max": 1.457}},
                          "transformer": {"parameters": 1800000, "runs": 2, "steps": {"mean": 1500}, "chars_per_second": {"mean": 27000},
                                          "val_nats_windows": {"mean": 1.6, "sd": 0.02, "min": 1.586, "max": 1.614},
                                          "val_nats_carried": None}},
                      **_conditions("2026-01-05T00:00:00+00:00")},
        "autograde.json": {"benchmark": "autograde", "students": 50, "class_wall_seconds": 928.5,
                           "seconds_per_submission": {"gates": 4.25}, "parallel": {"jobs": 2, "class_wall_seconds": 571.5},
                           **_conditions("2026-01-06T00:00:00+00:00"), "load_average_after": [1.5, 1.75, 1.25]},
    }
    for name, rec in records.items():
        (tmp_path / name).write_text(json.dumps(rec))
    (tmp_path / "broken.json").write_text("{not json")
    text = results_markdown(tmp_path)
    for expected in ["1.679", "2.422", "777", "21,235", "3,322,497", "2 x 512 LSTM", "B=64 streams x T=64",
                     "autocast bfloat16", "tiny.txt",
                     "| hand (python loop) | 98.7 | 41,500 | 1.625 |", "| nn.LSTM | 60.7 | 67,500 | 1 |",
                     "| carried state | 0.5 | 2.25 | 4.5 |", "| re-feed prefix | 12.5 | 175 | 14 |",
                     "time for 4x the length", "| 01_why_gates | 41.5 |", "63.25", "9.75",
                     "| lstm (1 x 384) | 720,385 | 2 | 9,000 | 46,000 | 1.4613 ± 0.0125 [1.4525, 1.4700] | "
                     "1.4500 ± 0.0100 [1.4430, 1.4570] |",
                     "| transformer (4 x 192, context 128) | 1,800,000 | 2 | 1,500 | 27,000 | 1.6000 ± 0.0200 "
                     "[1.5860, 1.6140] | - |", "windows of 128 characters", "seeds [0, 1]",
                     "| gates | 4.25 |", "| whole class of 50 students, every step (wall) | 928.5 |",
                     "| the same, graded in 2 shards in parallel (wall) | 571.5 |",
                     # autograde.py records the load before its run and after it, the others after theirs
                     "load average 0.5 / 0.25 / 0.125 at the start and 1.5 / 1.75 / 1.25 at the end."]:
        assert expected in text, expected
    # every record names the conditions it was measured under
    for date in ("2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"):
        assert f"Measured {date}" in text
    assert text.count("Test CPU 9000 (2 logical CPUs, avx2 avx512_bf16), device cpu, 2 torch threads, "
                      "torch 2.13.0+cpu, load average 0.5 / 0.25 / 0.125") == 6
    # a broken file is named, not silently dropped, and does not hide the others
    assert "**broken.json**: unreadable" in text
    assert [name for name, _ in load_results(tmp_path)] == sorted([*records, "broken.json"])
    assert "No recorded benchmark results" in results_markdown(tmp_path / "missing")


def test_report_command_prints_the_records_and_rejects_a_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"benchmark": "new-kind", **_conditions("2026-02-02T00:00:00+00:00")}))
    out = run("report.py", "--results", str(tmp_path)).stdout
    assert "**x.json** (new-kind). (no summary for benchmark kind 'new-kind')" in out and "Measured 2026-02-02" in out
    bad = run("report.py", "--results", str(tmp_path / "nope"), check=False)
    assert bad.returncode == 2 and "expected --results to be a folder" in bad.stderr


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
               "--train-set", "batch_size=4", "--train-set", "bptt=16", "--train-set", "amp_dtype=None",
               "--json", str(out_json), "--save", str(tmp_path / "model.pt"))
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
    assert rec["train_config"]["optimizer"] == "muon"  # TrainConfig.shakespeare(), what the README's figures used
    assert rec["amp_dtype_used"] == "float32"  # the override below is kept, and the JSON says what ran
    # the training curve for the Speed chapter's plot: at most 200 points, in step order, ending at the last step
    curve = rec["curve"]
    assert 1 <= len(curve["step"]) <= 200 and curve["step"][-1] == rec["steps"]
    assert curve["step"] == sorted(set(curve["step"])) and curve["seconds"] == sorted(curve["seconds"])
    assert len(curve["train_loss"]) == len(curve["lr"]) == len(curve["step"])
    # --save keeps the trained model: reloaded, it scores the same held-out text the same
    model, vocab, config, extra = load_checkpoint(tmp_path / "model.pt")
    ids = vocab.encode(small_text.read_text(encoding="utf-8"))
    assert config.hidden_size == 16 and extra["train_config"].bptt == 16
    assert evaluate_lm(model, ids[int(len(ids) * 0.9):]) == pytest.approx(rec["val_nats_per_char"], abs=1e-5)


def test_charlm_rejects_bad_input(tmp_path: Path, small_text: Path) -> None:
    missing = run("charlm.py", "--text", str(tmp_path / "nope.txt"), "--seconds", "1", check=False)
    assert missing.returncode == 2 and "expected --text to be an existing file" in missing.stderr
    bad = run("charlm.py", "--text", str(small_text), "--seconds", "1", "--model-set", "colour=red", check=False)
    assert bad.returncode == 2 and "NAME one of" in bad.stderr


TINY_PEER = ("--lstm-set", "hidden_size=16", "--lstm-set", "embed_dim=8", "--lstm-train-set", "batch_size=4",
             "--lstm-train-set", "bptt=16", "--gpt-set", "n_layer=1", "--gpt-set", "n_embd=16", "--gpt-set",
             "n_head=2", "--gpt-set", "block_size=16", "--gpt-train-set", "batch_size=4", "--gpt-train-set", "bptt=16")


def test_peer_runs_both_models_per_seed_and_scores_both_ways(small_text: Path, tmp_path: Path) -> None:
    out_json = tmp_path / "peer.json"
    proc = run("peer.py", "--text", str(small_text), "--seconds", "1", "--threads", "1", "--seeds", "3", "4",
               *TINY_PEER, "--json", str(out_json))
    rec = json.loads(out_json.read_text())
    assert CONDITIONS <= rec.keys() and rec["window"] == 16 and rec["seeds"] == [3, 4]
    runs = {(r["model"], r["seed"]) for r in rec["runs"]}
    assert runs == {("lstm", 3), ("lstm", 4), ("transformer", 3), ("transformer", 4)}
    for r in rec["runs"]:
        assert r["steps"] >= 1 and r["train_config"]["seed"] == r["seed"] and r["train_config"]["max_seconds"] == 1
        assert 0 < r["val_nats_windows"] < math.log(rec["vocab_size"]) + 1
        # both train with Muon for their hidden matrices, as their presets say
        assert r["train_config"]["optimizer"] == "muon"
        # only the LSTM has a state to carry through the held-out text
        assert (r["val_nats_carried"] is None) == (r["model"] == "transformer")
    lstm = [r["val_nats_windows"] for r in rec["runs"] if r["model"] == "lstm"]
    s = rec["summary"]["lstm"]["val_nats_windows"]
    assert s["mean"] == pytest.approx(sum(lstm) / 2) and s["min"] == min(lstm) and s["n"] == 2
    assert rec["summary"]["transformer"]["val_nats_carried"] is None
    assert "val (a) windows" in proc.stdout and "transformer" in proc.stdout.splitlines()[-2]


def test_peer_rejects_bad_input(small_text: Path) -> None:
    bad = run("peer.py", "--text", str(small_text), "--seconds", "1", "--gpt-set", "n_head=5", check=False)
    assert bad.returncode == 2 and "n_head to divide n_embd" in bad.stderr
    long = run("peer.py", "--text", str(small_text), "--seconds", "1", "--gpt-train-set", "bptt=65", check=False)
    assert long.returncode == 2 and "bptt <= block_size=64" in long.stderr
    seeds = run("peer.py", "--text", str(small_text), "--seconds", "1", "--seeds", "1", "1", check=False)
    assert seeds.returncode == 2 and "distinct --seeds" in seeds.stderr


def test_window_scoring_reads_every_window_from_scratch() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from peer import window_nats
        from transformer import CharTransformer, GPTConfig
    finally:
        sys.path.remove(str(BENCH))
    from lstm_course.models import CharLM, CharLMConfig
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (50,))
    lstm = CharLM(CharLMConfig(vocab_size=7, embed_dim=4, hidden_size=8, num_layers=1))
    # by hand: 4 windows of 12 (the last 1 id is left out), each from a zero state
    total = sum(torch.nn.functional.cross_entropy(lstm(ids[k:k + 12][None], None)[0][0], ids[k + 1:k + 13],
                                                  reduction="sum").item() for k in range(0, 48, 12))
    assert window_nats(lstm, ids, 12, batch_size=3) == pytest.approx(total / 48, rel=1e-6)
    # a carried state would score differently: the windows really are independent
    assert window_nats(lstm, ids, 12) != pytest.approx(evaluate_lm(lstm, ids[:49], batch_size=1, bptt=12), rel=1e-6)
    # the transformer is causal: changing the last character of a window changes no earlier prediction
    gpt = CharTransformer(GPTConfig(vocab_size=7, block_size=12, n_layer=1, n_head=2, n_embd=8)).eval()
    x = ids[:12][None].clone()
    before = gpt(x)[0]
    x[0, -1] = (x[0, -1] + 1) % 7
    after = gpt(x)[0]
    assert torch.equal(before[0, :-1], after[0, :-1]) and not torch.equal(before[0, -1], after[0, -1])
    with pytest.raises(ValueError, match="expected at most block_size=12"):
        gpt(ids[:13][None])


def test_transformer_gives_muon_its_block_matrices_and_leaves_embeddings_to_adamw() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from transformer import CharTransformer, GPTConfig
    finally:
        sys.path.remove(str(BENCH))
    gpt = CharTransformer(GPTConfig(vocab_size=7, block_size=12, n_layer=2, n_head=2, n_embd=8))
    named = {id(p): k for p, k in gpt.matrix_blocks()}
    expected = {id(b.attn.qkv.weight): 3 for b in gpt.blocks}  # q, k, v: three maps in one (3D, D) matrix
    expected |= {id(m.weight): 1 for b in gpt.blocks for m in (b.attn.proj, b.mlp.fc, b.mlp.proj)}
    assert named == expected
    assert id(gpt.tok_emb.weight) not in named and id(gpt.pos_emb.weight) not in named  # (the head is tied to tok_emb)


@pytest.mark.parametrize("compiled", [False, True], ids=["four", "with-torch-compile"])
def test_cell_benchmark_compares_four_implementations(tmp_path: Path, compiled: bool) -> None:
    out_json = tmp_path / "cell.json"
    proc = run("cell.py", "--batch", "2", "--steps", "4", "--hidden", "8", "--repeats", "1", "--threads", "1",
               *(["--compile"] if compiled else []), "--json", str(out_json))
    rec = json.loads(out_json.read_text())
    names = [r["implementation"] for r in rec["results"]]
    assert names == ["hand (python loop)", "nn.LSTMCell loop", "scripted (TorchScript)",
                     *(["compiled step (torch.compile)"] if compiled else []), "nn.LSTM"]
    if compiled:  # the compiling first call is timed apart, and is far slower than a compiled call
        assert rec["compile_seconds"] > 10 * rec["results"][3]["seconds"]
    else:
        assert rec["compile_seconds"] is None
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
