#!/usr/bin/env bash
# Fetches the book's front-end assets from the npm registry into book/_vendor/ (git-ignored), so
# the built site works offline: MathJax 3 (math), RequireJS and the ipywidgets HTML manager
# (static widgets). Jupyter Book 1 would otherwise load all three from CDNs. _config.yml points
# Sphinx (mathjax_path, html_static_path) and myst-nb (nb_ipywidgets_js) at these copies.
# Idempotent: does nothing when book/_vendor/VERSIONS already lists the pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="mathjax@3.2.2 requirejs@2.3.8 @jupyter-widgets/html-manager@1.0.15"
VENDOR=book/_vendor
if [ -f "$VENDOR/VERSIONS" ] && [ "$(cat "$VENDOR/VERSIONS")" = "$PACKAGES" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  else
    echo "Building the book offline-ready needs npm (to fetch MathJax, RequireJS and the ipywidgets" >&2
    echo "HTML manager): run 'sudo apt-get install npm' and try again." >&2
    exit 1
  fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# `npm pack` downloads each package's tarball (integrity-checked by npm) without installing anything
(cd "$tmp" && npm pack --silent $PACKAGES >/dev/null)
new="$tmp/vendor"
mkdir -p "$new/mathjax" "$new/requirejs" "$new/html-manager" "$tmp/x"
tar xzf "$tmp"/mathjax-3.2.2.tgz -C "$tmp/x" && cp -r "$tmp/x/package/es5/." "$new/mathjax/" && rm -rf "$tmp/x/package"
tar xzf "$tmp"/requirejs-2.3.8.tgz -C "$tmp/x" && cp "$tmp/x/package/require.js" "$new/requirejs/" && rm -rf "$tmp/x/package"
tar xzf "$tmp"/jupyter-widgets-html-manager-1.0.15.tgz -C "$tmp/x"
# embed-amd.js bundles @jupyter-widgets/base and controls; the hashed files are its icon fonts
(cd "$tmp/x/package/dist" && cp embed-amd.js *.woff2 *.woff *.ttf *.eot *.svg "$new/html-manager/")
echo "$PACKAGES" > "$new/VERSIONS"
# swap in atomically-ish: a half-fetched folder never carries a VERSIONS file that matches
rm -rf "$VENDOR"
mv "$new" "$VENDOR"
echo "vendored into $VENDOR: $PACKAGES"
