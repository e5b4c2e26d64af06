"""Full-page PNGs of every page of the built book (see scripts/screenshots.sh).

Pages are served from 127.0.0.1 and opened in headless Chromium (the same browser and settings as
the book's tests, tests/booktools.py); every request outside the site is blocked. Each PNG is
taken once images have loaded and MathJax has typeset, at the given window width, and is named
after the page's path (book/07_sampling.html -> book__07_sampling.png). With --expand, every collapsed
answer (a sphinx-exercise solution shown as a dropdown) is opened first, as a reader's click would.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from booktools import CHROMIUM, CHROMIUM_ARGS, SiteServer  # noqa: E402

_SETTLE_JS = """
async () => {
  for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}
"""
# a reader's click on the title of every collapsed dropdown (sphinx-togglebutton)
_EXPAND_JS = "() => document.querySelectorAll('.admonition.toggle-hidden > .admonition-title').forEach(t => t.click())"


def site_pages(site: Path) -> list[str]:
    """Every page of the site, not the theme's fragments under _static/ or _sources/."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0].startswith("_"))


def screenshots(site: Path, out: Path, width: int = 1280, only: str | None = None,
                expand: bool = False) -> list[Path]:
    from playwright.sync_api import sync_playwright

    pages = [p for p in site_pages(site) if only is None or only in p]
    if not pages:
        raise SystemExit(f"expected pages in {site}" + (f" matching {only!r}" if only else "") + ", got none")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with SiteServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": 900})
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server.url) else r.abort())
            for i, path in enumerate(pages, 1):
                page = context.new_page()
                page.goto(server.url + path, wait_until="load")
                page.wait_for_load_state("load")
                try:
                    page.evaluate(_SETTLE_JS)
                except Exception:  # a redirect page (index.html) navigated meanwhile
                    page.wait_for_load_state("load")
                    page.evaluate(_SETTLE_JS)
                if expand:
                    page.evaluate(_EXPAND_JS)
                page.wait_for_timeout(300)
                png = out / (path.removesuffix(".html").replace("/", "__") + ".png")
                page.screenshot(path=str(png), full_page=True)
                page.close()
                written.append(png)
                print(f"[{i}/{len(pages)}] {png}", flush=True)
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Full-page PNGs of every page of the built book.")
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built site (default _build/html)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default 1280)")
    parser.add_argument("--only", help="only pages whose path contains this text, e.g. 07_sampling")
    parser.add_argument("--expand", action="store_true", help="open every collapsed answer before the shot")
    args = parser.parse_args()
    if not (args.site / "index.html").is_file():
        raise SystemExit(f"expected a built site at {args.site} (run bash scripts/build-book.sh), got no index.html")
    screenshots(args.site, args.out, args.width, args.only, args.expand)


if __name__ == "__main__":
    main()
