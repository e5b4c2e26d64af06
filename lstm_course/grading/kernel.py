"""The grading kernel: ipykernel started under resource limits and a file-system sandbox.

nbgrader runs every submission in a Jupyter kernel, with the grader's own privileges. This launcher
is the kernel spec ``lstm-course-grader`` (installed by ``python -m lstm_course.grading install-kernel``,
which ``scripts/setup-env.sh`` runs); ``nbgrader_config.py`` selects it for ``nbgrader autograde``.
Before it turns into an ordinary IPython kernel (``os.execv``) it

- caps the memory the kernel can allocate (``RLIMIT_DATA``: heap and private writable mappings, so a
  huge tensor fails with an error inside the cell instead of pushing the machine into the OOM killer;
  unlike ``RLIMIT_AS`` it does not count the address space a CUDA context reserves),
- caps the size of any file it writes (``RLIMIT_FSIZE``; SIGXFSZ is ignored so the write fails with
  ``OSError`` instead of killing the kernel) and disables core dumps,
- confines the kernel, and everything it starts, with Landlock (Linux >= 5.13, no privileges needed):
  it may read the Python installation and the system's libraries, and read and write only its
  working directory (``autograded/<student>/<id>/``) and a private temporary directory. The source
  notebooks with the solutions, the gradebook, and every other student's files are out of its reach.
  Where Landlock is missing the kernel still starts, with the limits only, and says so on stderr.

Command line (what the kernel spec and nbgrader pass)::

    python -m lstm_course.grading.kernel [--grading-memory BYTES] [--grading-file-size BYTES]
                                         [--grading-sandbox 0|1] [--grading-tmp=DIR]
                                         -f CONNECTION_FILE [ipykernel args...]
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import sysconfig
import tempfile
from pathlib import Path

DEFAULT_MEMORY = 4 * 2**30  # bytes; the graded notebooks need well under 1 GiB
DEFAULT_FILE_SIZE = 2**30  # bytes; the largest file one cell may write

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_DIR_CHANGES = sum(1 << b for b in range(4, 13))  # remove/make dir, file, socket, fifo, symlink, ...
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2 and ABI 3
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def parse_args(argv: list[str]) -> tuple[dict[str, int | str], list[str]]:
    """Split the launcher's own options from the arguments meant for ipykernel."""
    rest = list(argv)
    opts: dict[str, int | str] = {"tmp": ""}
    for k, arg in enumerate(rest):
        if arg.startswith("--grading-tmp="):
            opts["tmp"] = arg.split("=", 1)[1]
            del rest[k]
            break
    for name, default in (("--grading-memory", DEFAULT_MEMORY), ("--grading-file-size", DEFAULT_FILE_SIZE),
                          ("--grading-sandbox", 1)):
        value = default
        for k, arg in enumerate(rest):
            if arg.startswith(name + "="):
                value = int(arg.split("=", 1)[1])
                del rest[k]
                break
            if arg == name and k + 1 < len(rest):
                value = int(rest[k + 1])
                del rest[k:k + 2]
                break
        opts[name[len("--grading-"):].replace("-", "_")] = int(value)
    return opts, rest


def set_limits(memory: int, file_size: int) -> None:
    """Cap data memory and written file size (0 or less: no cap); no core files."""
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    if file_size > 0:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # stays ignored across exec: EFBIG, not death
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def readable_paths() -> list[Path]:
    """What a Python kernel needs to read: system libraries, the interpreter, the environment's packages."""
    paths = [Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt", "/proc",
                               "/sys", "/run")]
    paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)]
    paths += [Path(p) for p in sysconfig.get_paths().values()]
    # an editable install of the course package lives in the repository: allow its package folder only
    from importlib.util import find_spec  # no package code runs: find_spec only locates it
    spec = find_spec("lstm_course")
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    return [p for p in dict.fromkeys(p.resolve() for p in paths) if p.exists()]


def landlock(read: list[Path], write: list[Path], read_files: list[Path]) -> str:
    """Restrict this process and its children to ``read`` (read-only) and ``write`` (read-write) trees.

    Returns "" on success, else why the sandbox could not be applied (the caller decides what to do).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return f"Landlock is not available on this kernel ({os.strerror(ctypes.get_errno())})"
    handled = _EXECUTE | _WRITE_FILE | _READ_FILE | _READ_DIR | _DIR_CHANGES
    handled |= _REFER if abi >= 2 else 0
    handled |= _TRUNCATE if abi >= 3 else 0
    attr = ctypes.c_uint64(handled)
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
    if fd < 0:
        return f"landlock_create_ruleset failed ({os.strerror(ctypes.get_errno())})"
    try:
        rules = [(p, _EXECUTE | _READ_FILE | _READ_DIR) for p in read]
        rules += [(p, handled) for p in write]
        rules += [(p, _READ_FILE | _WRITE_FILE | _READ_DIR) for p in (Path("/dev"),)]  # /dev/null, /dev/tty
        rules += [(p, handled) for p in (Path("/dev/shm"),) if p.is_dir()]  # torch's shared-memory tensors
        rules += [(p, _READ_FILE) for p in read_files]
        for path, access in rules:
            if path.is_file():
                access &= _FILE_RIGHTS & handled
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(access, pfd)
                if libc.syscall(_SYS_ADD_RULE, fd, 1, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    return f"landlock_add_rule {path} failed ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(pfd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"prctl(NO_NEW_PRIVS) failed ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(_SYS_RESTRICT_SELF, fd, ctypes.c_uint32(0)) != 0:
            return f"landlock_restrict_self failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return ""


def main(argv: list[str] | None = None) -> None:
    opts, rest = parse_args(sys.argv[1:] if argv is None else argv)
    # nbgrader's side (GradingExecute) makes and removes the private folder; alone, make one
    private = Path(opts["tmp"]) if opts["tmp"] else Path(tempfile.mkdtemp(prefix="lstm-grader-"))
    # Everything a kernel writes outside its working directory goes to the private folder, so that
    # no submission can leave files (e.g. an IPython startup script) that run in a later one.
    os.environ.update(TMPDIR=str(private), IPYTHONDIR=str(private / "ipython"), MPLCONFIGDIR=str(private / "mpl"),
                      XDG_CACHE_HOME=str(private / "cache"), XDG_CONFIG_HOME=str(private / "config"),
                      PYTHONDONTWRITEBYTECODE="1", NBGRADER_GRADING_KERNEL="1")
    set_limits(opts["memory"], opts["file_size"])
    if opts["sandbox"]:
        files = []
        if "-f" in rest and rest.index("-f") + 1 < len(rest):
            files.append(Path(rest[rest.index("-f") + 1]).resolve())
        why = landlock(readable_paths(), [Path.cwd().resolve(), private], [f for f in files if f.exists()])
        if why:
            print(f"lstm-course-grader: file-system sandbox off: {why}; resource limits still apply",
                  file=sys.stderr)
    # The kernel's input history stays in memory: nothing of one submission is kept for the next.
    args = [sys.executable, "-m", "ipykernel_launcher", *rest, "--HistoryManager.enabled=False"]
    os.execv(sys.executable, args)


if __name__ == "__main__":
    main()
