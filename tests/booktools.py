"""Build the Jupyter Book and inspect what it produced: used by tests/conftest.py (`built_book`)
and tests/test_book.py. Not a test module itself.

- `build_book(source, out)` runs `jupyter-book build SOURCE -W --keep-going --path-output OUT`
  and returns a `BuiltBook` (log, return code, per-chapter execution times, executed notebooks,
  glued values, and the overlap check of every figure the chapters drew: tests/figure_overlap.py,
  run inside each chapter's kernel through an IPython startup file).
- `check_pages(html_dir, pages)` opens pages in headless Chromium (Debian's /usr/bin/chromium,
  driven by Playwright without any downloaded browser) served from 127.0.0.1 and returns the
  problems it found on each page.
"""
from __future__ import annotations

import ast
import functools
import json
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
FIGURE_LOG = "figure-overlap.jsonl"  # in the build folder
# the IPython startup file every chapter's kernel runs during a `build_book`
_FIGURE_STARTUP = """\
import os, sys
sys.path.insert(0, {tests!r})
import figure_overlap
figure_overlap.install({log!r})
del sys.path[0]
"""
GLUE_PREFIX = "application/papermill.record/"
# myst-nb's log lines, e.g. "/repo/book/01_why_gates.ipynb: Executed notebook in 12.34 seconds [mystnb]"
_EXECUTED = re.compile(r"^(?P<path>\S+\.(?:ipynb|md)): Executed notebook in (?P<s>[0-9.]+) seconds")
_EXECUTING = re.compile(r"^(?P<path>\S+\.(?:ipynb|md)): Executing notebook")
# Sphinx warnings look like "path:line: WARNING: …" or "WARNING: …" (a kernel's own
# "[IPKernelApp] WARNING | …" on stderr is not one)
_SPHINX_WARNING = re.compile(r"(^|: )(WARNING|ERROR|CRITICAL): ")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return str(exe)
    found = shutil.which("jupyter-book")
    if found is None:
        raise RuntimeError("expected the jupyter-book command next to the Python running the tests, got none")
    return found


@dataclass
class BuiltBook:
    """What one `jupyter-book build` produced.

    Attributes:
        source: the book's source root (holds _config.yml and _toc.yml).
        build_dir: the ``_build`` folder (html/, jupyter_execute/, .jupyter_cache/).
        html_dir: the built site, ``build_dir / "html"``.
        returncode: exit status of ``jupyter-book build -W --keep-going`` (0 = no warnings).
        log: everything the build printed (stdout and stderr, colour codes removed).
        wall_seconds: the whole build's wall-clock time.
        times: notebook stem -> seconds its execution took, for every notebook in the execution
            cache (executed now or, when the cache was reused, earlier), e.g. ``{"01_why_gates": 41.2}``.
        executed_now: stems of the notebooks this build executed (not taken from the cache).
    """

    source: Path
    build_dir: Path
    returncode: int
    log: str
    wall_seconds: float
    times: dict[str, float] = field(default_factory=dict)
    executed_now: list[str] = field(default_factory=list)

    @property
    def html_dir(self) -> Path:
        return self.build_dir / "html"

    @property
    def total_seconds(self) -> float:
        """Sum of the per-notebook execution times."""
        return sum(self.times.values())

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.log.splitlines() if _SPHINX_WARNING.search(line)]

    def executed(self, stem: str) -> nbformat.NotebookNode:
        """The executed notebook `stem` (e.g. "01_why_gates") with its outputs, read from the
        execution cache (myst-nb's jupyter_execute/ copies of .ipynb sources carry no outputs)."""
        from jupyter_cache import get_cache

        records = _cache_records(self.build_dir)
        if stem not in records:
            raise KeyError(f"expected an executed notebook named {stem!r} in the execution cache, got only {sorted(records)}")
        cache = get_cache(str(self.build_dir / ".jupyter_cache"))
        return cache.get_cache_bundle(records[stem][1]).nb

    @property
    def figure_log(self) -> Path:
        """JSON lines written by tests/figure_overlap.py in the chapters' kernels (one per figure)."""
        return self.build_dir / FIGURE_LOG

    def figure_checks(self) -> dict[str, list[list[str]]]:
        """SHA-1 of a cell's source -> the overlap problems of each figure that cell drew, for every
        cell executed by a `build_book` into this build folder (now, or earlier for cached chapters)."""
        checks: dict[str, list[list[str]]] = {}
        if self.figure_log.exists():
            for line in self.figure_log.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                checks.setdefault(record["cell_sha1"], []).append(record["problems"])
        return checks

    def glue(self, stem: str) -> dict[str, object]:
        """The values notebook `stem` glued with ``myst_nb.glue(name, value, display=False)``.

        Each value is read back from its ``text/plain`` representation: Python literals (int,
        float, str, bool, None, and lists/tuples/dicts of them) come back as those objects,
        NumPy scalars such as ``np.float64(0.93)`` as the plain Python number; anything else as
        its ``text/plain`` string. A glued object without ``text/plain`` (e.g. a figure) comes
        back as its MIME bundle ``{mime_type: data}``.
        """
        values: dict[str, object] = {}
        for cell in self.executed(stem).cells:
            if cell.cell_type != "code":
                continue
            for output in cell.get("outputs", []):
                meta = output.get("metadata", {}).get("scrapbook")
                if not meta or "name" not in meta:
                    continue
                bundle = {
                    (k[len(GLUE_PREFIX):] if k.startswith(GLUE_PREFIX) else k): v
                    for k, v in output.get("data", {}).items()
                }
                values[meta["name"]] = _decode_glued(bundle)
        return values


def _decode_glued(bundle: dict[str, object]) -> object:
    text = bundle.get("text/plain")
    if not isinstance(text, str):
        return bundle
    inner = re.fullmatch(r"np\.\w+\((.*)\)", text.strip(), flags=re.S)  # NumPy 2 scalar repr
    for candidate in ([inner.group(1)] if inner else []) + [text]:
        try:
            return ast.literal_eval(candidate)
        except (ValueError, SyntaxError):
            continue
    return text


def _cache_records(build_dir: Path) -> dict[str, tuple[object, int, float]]:
    """stem -> (created, pk, execution seconds) of the newest execution-cache record of each notebook."""
    from jupyter_cache import get_cache

    cache_dir = build_dir / ".jupyter_cache"
    if not cache_dir.exists():
        return {}
    newest: dict[str, tuple[object, int, float]] = {}
    for record in get_cache(str(cache_dir)).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        stem = Path(record.uri).stem
        if seconds is not None and (stem not in newest or record.created > newest[stem][0]):
            newest[stem] = (record.created, record.pk, float(seconds))
    return dict(sorted(newest.items()))


def build_book(source: Path, out: Path, extra_args: tuple[str, ...] = ()) -> BuiltBook:
    """Run ``jupyter-book build SOURCE -W --keep-going --path-output OUT`` and collect the results.

    The build folder is ``OUT/_build``; an execution cache already there is reused, so pass a
    fresh `out` for a build from a clean cache. Raises RuntimeError when the site was not written
    at all; a build with warnings or failed notebooks returns with a non-zero `returncode`.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    vendor = source / "book" / "_vendor" / "VERSIONS"
    if not vendor.exists():
        raise RuntimeError(
            f"expected the offline assets in {vendor.parent} (fetched by scripts/vendor-assets.sh, "
            "which scripts/test.sh runs), got none"
        )
    build_dir = out / "_build"
    # every chapter kernel checks its figures for overlapping texts (tests/figure_overlap.py)
    ipython_dir = build_dir / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-figure-overlap.py").write_text(
        _FIGURE_STARTUP.format(tests=str(TESTS), log=str(build_dir / FIGURE_LOG)), encoding="utf-8")
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(ipython_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [_jupyter_book(), "build", str(source), "-W", "--keep-going", "--path-output", str(out), *extra_args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    log = _ANSI.sub("", proc.stdout)
    if not (build_dir / "html").is_dir():
        raise RuntimeError(f"jupyter-book wrote no site (exit {proc.returncode}); its log ends:\n{log[-4000:]}")
    executed_now = []
    for line in log.splitlines():
        m = _EXECUTING.match(line.strip())
        if m:
            executed_now.append(Path(m.group("path")).stem)
    return BuiltBook(
        source=source,
        build_dir=build_dir,
        returncode=proc.returncode,
        log=log,
        wall_seconds=wall,
        times={stem: rec[2] for stem, rec in _cache_records(build_dir).items()},
        executed_now=executed_now,
    )


def logged_times(log: str) -> dict[str, float]:
    """stem -> seconds from myst-nb's "Executed notebook in … seconds" log lines."""
    times = {}
    for line in log.splitlines():
        m = _EXECUTED.match(line.strip())
        if m:
            times[Path(m.group("path")).stem] = float(m.group("s"))
    return times


def toc_files(source: Path) -> list[str]:
    """Every document the book's _toc.yml lists (root first), as paths without extension."""
    import yaml

    toc = yaml.safe_load((Path(source) / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list) -> None:
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


# ---------------------------------------------------------------- headless Chromium ----------

# scripts/test.sh sets CHROMIUM (and finds or installs one); run alone, pytest uses the chromium on PATH
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# runs in the page once it has loaded: makes lazy images load, waits for images and MathJax,
# then reports what the tests assert on, as a reader would meet it
_INSPECT_JS = """
async () => {
  for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  const mathEls = [...document.querySelectorAll('.math')];
  if (mathEls.length && window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const article = document.querySelector('article') || document.body || document.documentElement;
  // text a reader reads: not code, program output, math or scripts
  const SKIP = 'pre, code, kbd, script, style, textarea, .math, mjx-container, .MathJax, .highlight';
  const BLOCK = 'p, li, td, th, h1, h2, h3, h4, h5, h6, dt, dd, caption, figcaption, blockquote, div';
  const prose = new Map();
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest(SKIP)) continue;
    const block = el.closest(BLOCK) || article;
    prose.set(block, (prose.get(block) || '') + node.textContent);
  }
  const headingText = h => {
    const c = h.cloneNode(true);
    c.querySelectorAll('a.headerlink, mjx-container, .math, script').forEach(e => e.remove());
    return c.textContent.trim();
  };
  const headings = [...article.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => {
    const sec = h.parentElement && h.parentElement.tagName === 'SECTION' ? h.parentElement : null;
    const rest = sec ? [...sec.children].filter(c => c !== h && c.tagName !== 'SECTION') : [];
    // (Sphinx's own index and search pages have headings outside sections: not judged)
    return {level: +h.tagName[1], text: headingText(h), content: !sec ||
            rest.some(c => c.textContent.trim() || c.querySelector('img, table, svg, mjx-container'))};
  });
  // a paragraph that announces what comes next ("Below is …", "… below:") must be followed
  // by it (code, a list, a table, math, a figure), not by more prose or the end of the section
  const announcements = [...article.querySelectorAll('section > p')].filter(p => {
    const text = p.textContent.trim();
    return /\\b(below|as follows):$/.test(text) || /^(Below (is|are)|The (code|cell|table|figure) below)\\b/.test(text);
  }).filter(p => !p.nextElementSibling || ['P', 'SECTION'].includes(p.nextElementSibling.tagName))
    .map(p => p.textContent.trim());
  const outputs = [...article.querySelectorAll('.cell_output')];
  return {
    math: mathEls.length,
    mathjax_loaded: !!(window.MathJax && window.MathJax.version),
    rendered: document.querySelectorAll('mjx-container').length,
    math_errors: document.querySelectorAll('mjx-merror').length,
    images: [...document.images].map(img => ({
      src: img.getAttribute('src') || '', alt: img.getAttribute('alt'),
      ok: img.complete && img.naturalWidth > 0})),
    prose: [...prose.values()],
    headings: headings,
    tables: article.querySelectorAll('table').length,
    announcements: announcements,
    // a table wider than the column it sits in: the reader has to scroll sideways to see it all
    wide_tables: [...article.querySelectorAll('table')].filter(t => t.parentElement &&
        t.scrollWidth > t.parentElement.clientWidth + 2).map(t => ({
        width: t.scrollWidth, visible: t.parentElement.clientWidth,
        header: [...t.querySelectorAll('th')].map(th => th.textContent.trim()).join(' | ').slice(0, 120)})),
    output_tables: outputs.reduce((n, o) => n + o.querySelectorAll('table').length, 0),
    // answers (sphinx-exercise solutions): collapsed = nothing but the title can be seen (sphinx-togglebutton
    // hides the rest with visibility: hidden and height 0, so that it can animate the opening)
    solutions: [...article.querySelectorAll('.solution.admonition')].map(s => ({
        id: s.id, classes: s.className,
        collapsed: [...s.children].filter(c => !c.classList.contains('admonition-title')).every(c =>
            c.getClientRects().length === 0 || getComputedStyle(c).visibility === 'hidden')})),
    output_texts: outputs.flatMap(o => [...o.querySelectorAll('pre')].map(p => ({
        text: p.textContent, stderr: !!p.closest('.stderr'),
        error: !!p.closest('.traceback, .error')}))),
  };
}
"""

# Markdown that should have become formatting but reached the reader as characters
MARKDOWN_LEAKS = {
    "a Markdown table row": re.compile(r"\|\s*:?[-\u2014\u2013]+:?\s*\|"),  # |---|, and |—| after smartquotes
    "bold asterisks **": re.compile(r"\*\*"),
    "a pair of backticks": re.compile(r"`[^`\n]+`"),
    "display-math dollars $$": re.compile(r"\$\$"),
    "a Markdown link ](…)": re.compile(r"\]\([^)\s]*\)"),
}
# a Markdown table printed as program text instead of displayed as a table
_TEXT_TABLE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)
_ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Warning)\b:")


@dataclass
class PageReport:
    """What `inspect_pages` saw on one page: `problems` (each a sentence), the number of `<table>`
    elements in the page's content (`tables`) and in its cell outputs (`output_tables`), and its
    `headings` as ``(level, text, has content under it)`` in page order."""

    problems: list[str]
    tables: int = 0
    output_tables: int = 0
    headings: list[tuple[int, str, bool]] = field(default_factory=list)
    solutions: list[dict] = field(default_factory=list)


def _reader_problems(report: dict) -> list[str]:
    """Problems a reader would see in the text of a page (from `_INSPECT_JS`'s report)."""
    found = []
    for text in report["prose"]:
        for what, pattern in MARKDOWN_LEAKS.items():
            m = pattern.search(text)
            if m:
                start = max(0, m.start() - 40)
                found.append(f"Markdown syntax in the text ({what}): …{text[start:m.end() + 40].strip()}…")
    for out in report["output_texts"]:
        text = out["text"]
        if _TEXT_TABLE.search(text):
            found.append(f"a table shown as text, not as a table: {text[:120]!r}")
        if out["error"]:
            found.append(f"error output: {text[:300]!r}")
        elif out["stderr"] and _ERROR_TEXT.search(text):
            found.append(f"error or warning output: {text[:300]!r}")
        elif _ERROR_TEXT.search(text) and "Traceback" in text:
            found.append(f"a traceback in the output: {text[:300]!r}")
    for t in report["wide_tables"]:
        found.append(f"a table {t['width']} px wide in a {t['visible']} px column (the reader scrolls sideways "
                     f"to see it): {t['header']!r}")
    for text in report["announcements"]:
        found.append(f"a paragraph announces what follows, but no code, list, table or figure follows it: "
                     f"{text[:160]!r}")
    for level, text, content in ((h["level"], h["text"], h["content"]) for h in report["headings"]):
        if not content:
            found.append(f"heading {text!r} (h{level}) has nothing under it")
    return found


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test log clean
        pass


class SiteServer:
    """Serves a folder on http://127.0.0.1:<free port>/ from a background thread."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "SiteServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _alt_problem(src: str, alt: str | None) -> str | None:
    if alt is None or not alt.strip():
        return f"image {src!r} has no alt text"
    # docutils falls back to the image's URI as alt text: that is not a description
    if alt.strip() == src or alt.strip().endswith(Path(src).name) or re.search(r"\.(png|jpe?g|svg|gif)$", alt.strip()):
        return f"image {src!r} has only its file name as alt text ({alt!r})"
    return None


def _watch(page, site_url: str, found: list[str]) -> None:  # noqa: ANN001  (a playwright Page)
    """Record the page's console errors, uncaught exceptions and HTTP errors in `found`; block and
    record every request outside `site_url`."""

    def route(r) -> None:  # noqa: ANN001  (a playwright Route)
        url = r.request.url
        if url.startswith(site_url) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            found.append(f"request outside the site: {url}")
            r.abort()

    def console(msg) -> None:  # noqa: ANN001
        if msg.type == "error":
            found.append(f"console error: {msg.text}")

    def response(resp) -> None:  # noqa: ANN001
        if resp.status >= 400:
            found.append(f"HTTP {resp.status}: {resp.url}")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda exc: found.append(f"uncaught exception: {exc}"))
    page.on("response", response)


def check_pages(html_dir: Path, pages: list[str], timeout_ms: int = 30_000) -> dict[str, list[str]]:
    """Open each page (a path relative to `html_dir`) in headless Chromium; return page -> problems
    (`inspect_pages`'s problems only)."""
    return {page: report.problems for page, report in inspect_pages(html_dir, pages, timeout_ms).items()}


def inspect_pages(html_dir: Path, pages: list[str], timeout_ms: int = 30_000) -> dict[str, PageReport]:
    """Open each page (a path relative to `html_dir`) in headless Chromium; return page -> report.

    Problems: math on the page that MathJax did not render (or rendered as an error), an image
    that did not load (naturalWidth 0), an image without alt text (or with only its file name),
    a console error or uncaught exception, an HTTP error status, any request to a URL outside
    the site (such requests are blocked and reported, so the check never goes online); and what
    a reader would trip over: Markdown syntax left in the rendered text (`MARKDOWN_LEAKS`; code,
    program output and math are not searched), a Markdown table printed as program text, error
    output (a traceback, or an error or warning on stderr), a heading with nothing under it, a table
    wider than its column (at Chromium's default 1280 x 720 window), and a
    paragraph that announces what follows ("Below is …", "… below:") followed by more prose instead.
    """
    from playwright.sync_api import sync_playwright

    reports: dict[str, PageReport] = {}
    with SiteServer(html_dir) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720})  # a laptop window
            for page_path in pages:
                found: list[str] = []
                page = context.new_page()

                _watch(page, server.url, found)
                page.goto(server.url + page_path, wait_until="load", timeout=timeout_ms)
                for attempt in range(3):  # a redirect page (index.html) navigates once more
                    try:
                        report = page.evaluate(_INSPECT_JS)
                        break
                    except Exception as exc:  # playwright.Error: "Execution context was destroyed"
                        if "context was destroyed" not in str(exc) or attempt == 2:
                            raise
                        page.wait_for_load_state("load", timeout=timeout_ms)
                page.wait_for_timeout(200)  # let late console messages arrive
                if report["math"]:
                    if not report["mathjax_loaded"]:
                        found.append(f"{report['math']} math elements but MathJax did not load")
                    elif report["rendered"] == 0:
                        found.append(f"{report['math']} math elements but MathJax rendered none")
                    if report["math_errors"]:
                        found.append(f"{report['math_errors']} MathJax errors")
                for img in report["images"]:
                    if not img["ok"]:
                        found.append(f"image did not load: {img['src']!r}")
                    alt = _alt_problem(img["src"], img["alt"])
                    if alt:
                        found.append(alt)
                found.extend(_reader_problems(report))
                page.close()
                reports[page_path] = PageReport(
                    problems=found, tables=report["tables"], output_tables=report["output_tables"],
                    headings=[(h["level"], h["text"], h["content"]) for h in report["headings"]],
                    solutions=report["solutions"])
        finally:
            browser.close()
    return reports


# ------------------------------------------------------------------ headings in source order --

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def source_headings(path: Path) -> list[str]:
    """The Markdown headings of a chapter source (.ipynb markdown cells, or a .md page), in order
    (front matter, code fences and code cells skipped)."""
    path = Path(path)
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    else:
        text = path.read_text(encoding="utf-8")
        if text.startswith("---"):
            text = text.split("---", 2)[2]
        texts = [text]
    found = []
    for text in texts:
        fence = None
        for line in text.splitlines():
            m = _FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)[0]
                elif m.group(1)[0] == fence:
                    fence = None
                continue
            if fence is None:
                h = _HEADING.match(line)
                if h:
                    found.append(h.group(2))
    return found


def heading_key(text: str) -> str:
    """A heading reduced to what survives rendering: no math, markup or punctuation, lower case
    (so the Markdown source "## `nn.LSTM`'s *outputs* ($h_t$)" and its page heading compare equal)."""
    text = re.sub(r"\$[^$]+\$", "", text)  # math: MathJax renders it, not comparable as text
    text = re.sub(r"\{[\w:-]+\}`([^`<]*)(<[^>]*>)?`", r"\1", text)  # {doc}`title <target>` -> title
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [text](url) -> text
    return re.sub(r"[\W_]+", "", text).lower()


def heading_order_problems(source: list[str], page: list[str]) -> list[str]:
    """Source headings missing from the page's headings, or found only out of order."""
    keys = [heading_key(h) for h in page]
    problems, at = [], 0
    for heading in source:
        key = heading_key(heading)
        if not key:
            continue
        if key in keys[at:]:
            at = keys.index(key, at) + 1
        elif key in keys:
            problems.append(f"heading {heading!r} appears out of source order")
        else:
            problems.append(f"heading {heading!r} is not on the page")
    return problems


# ------------------------------------------------------------------ graded answers ------------

def students_edition_config(source: Path, dest: Path) -> Path:
    """Write the book's _config.yml with ``hide_graded_answers: true`` (the students' edition,
    book/_ext/graded_answers.py) to `dest`, for ``jupyter-book build --config``. Jupyter Book resolves
    ``local_extensions`` against the config file's folder, so their paths are made absolute."""
    import yaml

    source = Path(source).resolve()
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8"))
    config["sphinx"]["config"]["hide_graded_answers"] = True
    config["sphinx"]["local_extensions"] = {
        name: str((source / path).resolve()) for name, path in config["sphinx"].get("local_extensions", {}).items()}
    dest = Path(dest)
    dest.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return dest


_SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", re.M | re.S)


def _code_lines(source: str) -> set[str]:
    """Stripped, non-empty lines of code, comments removed (docstrings are left to the caller)."""
    lines = set()
    for line in source.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            lines.add(line)
    return lines


def graded_answers(repo: Path = REPO) -> dict[str, set[str]]:
    """Graded function -> the lines of code that answer it: the solution region of its cell in
    ``solutions/*/*.ipynb``, plus the body of the course package's function of that name and of the
    private helpers in the same module it calls (chapter 2's ``lstm_cell`` step is ``cell._cell``).
    Signatures and docstrings are left out: the released notebooks show them."""
    import pkgutil

    answers: dict[str, set[str]] = {}
    for path in sorted(Path(repo, "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or "### BEGIN SOLUTION" not in cell.source:
                continue
            name = re.search(r"^def (\w+)\(", cell.source, re.M)
            if name:
                answers.setdefault(name.group(1), set()).update(
                    line for region in _SOLUTION_REGION.findall(cell.source) for line in _code_lines(region))
    import lstm_course

    for info in pkgutil.iter_modules(lstm_course.__path__):
        module_path = Path(lstm_course.__path__[0]) / f"{info.name}.py"
        if not module_path.exists():
            continue
        tree = ast.parse(module_path.read_text(encoding="utf-8"))
        source_lines = module_path.read_text(encoding="utf-8").splitlines()
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

        def body(fn: ast.FunctionDef) -> set[str]:
            stmts = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
            return _code_lines("\n".join(source_lines[stmts[0].lineno - 1:fn.end_lineno])) if stmts else set()

        for name in answers:
            fn = functions.get(name)
            if fn is None:
                continue
            answers[name] |= body(fn)
            called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            for helper in sorted(c for c in called if c.startswith("_") and c in functions):
                answers[name] |= body(functions[helper])
    return answers
