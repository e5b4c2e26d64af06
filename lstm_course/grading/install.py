"""The grading kernel's spec: ``python -m lstm_course.grading install-kernel [--prefix PREFIX]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KERNEL_NAME = "lstm-course-grader"


def kernel_spec(python: str = sys.executable) -> dict:
    """The ``kernel.json`` of the grading kernel for this Python environment."""
    return {
        "argv": [python, "-m", "lstm_course.grading.kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (lstm_course grader: limits + sandbox)",
        "language": "python",
        "metadata": {"debugger": False},
    }


def install_kernel(prefix: str = sys.prefix) -> Path:
    """Write the grading kernel spec into ``<prefix>/share/jupyter/kernels/lstm-course-grader``."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "kernel.json.tmp"
    tmp.write_text(json.dumps(kernel_spec(), indent=1) + "\n")
    tmp.replace(folder / "kernel.json")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_course.grading", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install-kernel", help="install the grading kernel spec (default: this environment)")
    inst.add_argument("--prefix", default=sys.prefix, help="environment prefix (default: %(default)s)")
    args = parser.parse_args(argv)
    print(f"installed {KERNEL_NAME} in {install_kernel(args.prefix)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
