"""Start the judge's probe process confined: memory and file-size caps, and Landlock read access to the Python
installation only -- never to the course package or the course directory.

    python -m lstm_course.grading.confine --tmp DIR [--memory BYTES] [--file-size BYTES] [--deny PATH ...]
                                          [--sandbox 0|1] -- PROGRAM [ARGS...]

The grading kernel (``kernel.py``) may read the course package, because the notebook's own cells import nothing
from it but nbgrader's kernel needs its launcher. The probe process (``probe_runner.py``) is where the points are
decided, so it gets less: the system's libraries, the interpreter and its site-packages **minus** every path in
``--deny`` (the judge passes the course directory, the package's folder and the repository holding it) and minus
the package's installed metadata; read-write only its private folder ``--tmp``; ``/proc`` is not readable (no
``/proc/self/mem``). Where Landlock is missing the process does not start unless ``--sandbox 0`` is given
(the judge then scores the notebook 0 and says why: a verdict without the sandbox would not be one).
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from .kernel import landlock, set_limits

SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/sys")
ENV_KEPT = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LSTM_COURSE_DEVICE", "CUDA_VISIBLE_DEVICES",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")
EXIT_NO_SANDBOX = 97
CPU_FILES = (Path("/proc/cpuinfo"), Path("/proc/meminfo"))  # torch sizes its thread pools from them; no /proc/self


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def carve(roots: list[Path], deny: list[Path]) -> list[Path]:
    """``roots`` with every ``deny`` path cut out: a root holding a denied path is replaced by its children
    (recursively along the denied path's branch). A root that lies inside a denied path stays: it was asked for."""
    out: list[Path] = []
    for root in roots:
        inner = [d for d in deny if d != root and _inside(d, root)]
        if any(d == root for d in deny):
            continue
        if not inner:
            out.append(root)
            continue
        try:
            children = sorted(root.iterdir())
        except OSError:
            continue
        out += carve([c for c in children if not any(_inside(c, d) for d in inner)], inner)
    return list(dict.fromkeys(out))


def package_paths() -> list[Path]:
    """Where the course package lives: its folder, the repository of an editable install, its metadata."""
    from importlib.util import find_spec  # locates it without running it
    found: list[Path] = []
    spec = find_spec("lstm_course")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location).resolve()
        found += [folder, folder.parent] if (folder.parent / "pyproject.toml").exists() else [folder]
    for site in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        if Path(site).is_dir():
            found += [p.resolve() for p in Path(site).iterdir() if "lstm_course" in p.name.lower()]
    return found


def probe_readable(deny: list[Path]) -> list[Path]:
    """What the probe may read: system libraries and the Python installation, without ``deny`` and without the
    course package wherever it is installed (``package_paths``)."""
    deny = [*deny, *package_paths()]
    roots = [Path(p) for p in SYSTEM] + [Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                          sys.base_exec_prefix)]
    roots += [Path(p) for p in sysconfig.get_paths().values()]
    roots = [p.resolve() for p in roots if p.exists()]
    keep = list(dict.fromkeys(roots))
    return [p for p in carve(keep, [d.resolve() for d in deny]) if p.exists()]


def parse(argv: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {"memory": 0, "file_size": 0, "tmp": "", "deny": [], "sandbox": 1}
    k = 0
    while k < len(argv) and argv[k] != "--":
        name, _, value = argv[k].partition("=")
        key = name.lstrip("-").replace("-", "_")
        if key not in opts:
            raise SystemExit(f"confine: unknown option {argv[k]!r}")
        if key == "deny":
            opts["deny"].append(Path(value))
        else:
            opts[key] = value if key == "tmp" else int(value)
        k += 1
    if k >= len(argv) - 1 or not opts["tmp"]:
        raise SystemExit("confine: usage: --tmp=DIR [--memory=B] [--file-size=B] [--deny=PATH ...] -- PROGRAM ...")
    return opts, argv[k + 1:]


def main(argv: list[str] | None = None) -> None:
    opts, command = parse(sys.argv[1:] if argv is None else argv)
    private = Path(opts["tmp"]).resolve()
    env = {k: os.environ[k] for k in ENV_KEPT if k in os.environ}
    env.update(HOME=str(private), TMPDIR=str(private), MPLCONFIGDIR=str(private / "mpl"),
               XDG_CACHE_HOME=str(private / "cache"), PYTHONDONTWRITEBYTECODE="1", NBGRADER_GRADING_KERNEL="1")
    # Compiled code hides operators from the profiler the judge reads: a function traced by TorchScript or compiled
    # by torch.compile runs PyTorch's LSTM without aten::lstm_cell reaching it (measured with torch 2.13 on a CPU).
    # With these two, torch.jit.script/trace and torch.compile return the plain Python function, which runs (and is
    # recorded) operator by operator; an honest helper written for them still works.
    env.update(PYTORCH_JIT="0", TORCHDYNAMO_DISABLE="1")
    set_limits(opts["memory"], opts["file_size"])
    if opts["sandbox"]:
        why = landlock(probe_readable(opts["deny"]), [private], [p for p in CPU_FILES if p.exists()])
        if why:
            print(f"lstm-course probe: no file-system sandbox: {why}", file=sys.stderr)
            raise SystemExit(EXIT_NO_SANDBOX)
    os.chdir(private)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
