#!/usr/bin/env bash
# Build the GAN Lab book (Jupyter Book 1.x) and print where the HTML is.
#
#   bash scripts/build_book.sh              # real experiments: the first build trains for a while
#   GAN_LAB_FAST=1 bash scripts/build_book.sh   # every chapter in minutes (same code, smaller runs)
#   bash scripts/build_book.sh assets       # only fetch/copy the page assets into _vendor/
#
# The two modes keep separate execution caches and outputs (_build/html and _build/fast/_build/html),
# so a fast build never serves its numbers as the real ones. A failing notebook fails the build (-W).
# The JavaScript the pages need (MathJax, RequireJS, the ipywidgets embed manager) comes from npm
# (package-lock.json) and is served from the book itself: the HTML works offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! "$PY" -c "import jupyter_book, sphinx_exercise, gan_lab" 2>/dev/null; then
  echo "== installing the book's Python dependencies"
  "$PY" -m pip install --quiet --disable-pip-version-check -e ".[book,test]"
fi

echo "== page assets (npm)"
if ! command -v npm >/dev/null; then
  echo "npm is needed to fetch the book's JavaScript: apt-get install npm (or install Node.js)" >&2
  exit 2
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf _vendor
mkdir -p _vendor/html-manager _vendor/mathjax/output/chtml/fonts _vendor/mathjax/input/tex
cp node_modules/requirejs/require.js _vendor/require.min.js
cp book/_assets/widgets-config.js book/_assets/gan-lab.css _vendor/
hm=node_modules/@jupyter-widgets/html-manager/dist
cp "$hm/embed-amd.js" _vendor/html-manager/
# the widget CSS refers to its icon fonts by file name, next to embed-amd.js
find "$hm" -maxdepth 1 -type f \( -name '*.woff' -o -name '*.woff2' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' \) \
  -exec cp {} _vendor/html-manager/ \;
mj=node_modules/mathjax/es5
cp "$mj/tex-chtml.js" _vendor/mathjax/
cp -r "$mj/output/chtml/fonts/woff-v2" _vendor/mathjax/output/chtml/fonts/
cp -r "$mj/input/tex/extensions" _vendor/mathjax/input/tex/
cp -r "$mj/ui" "$mj/a11y" _vendor/mathjax/
if [ "${1:-}" = "assets" ]; then
  echo "page assets are in $(pwd)/_vendor"
  exit 0
fi

# A progress bar in a chapter is an ipywidget that closes when done (leave=False): in the static
# page it would leave an empty gap. The pages show results, not progress, so bars are off in builds.
export TQDM_DISABLE=1
# the pages show the controls' static versions; no live widgets while nbclient runs the chapters
# (they could leave the build waiting on an idle kernel: see gan_lab.book.kernel_running)
export GAN_LAB_STATIC_CONTROLS=1

if [ "${GAN_LAB_FAST:-}" = "1" ]; then
  out=_build/fast
  echo "== building the book in FAST mode (GAN_LAB_FAST=1) into $out"
  # every page of a fast build says so: the same configuration plus a banner
  mkdir -p "$out"
  "$PY" - "$out/_config.fast.yml" <<'PYTHON'
import sys

import yaml

config = yaml.safe_load(open("_config.yml"))
# (html_theme_options in sphinx.config replaces the theme options that html: would set, so the
# banner goes there)
config["sphinx"]["config"].setdefault("html_theme_options", {})["announcement"] = (
    "Fast build (GAN_LAB_FAST=1): every chapter ran with fewer training steps and samples, so its "
    "numbers and pictures are smoke-test results, not the book's. Build without GAN_LAB_FAST for the real ones.")
with open(sys.argv[1], "w") as f:
    yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
PYTHON
  jupyter-book build . --config "$out/_config.fast.yml" --path-output "$out" -W --keep-going
  html="$out/_build/html"
else
  echo "== building the book (real experiments; the first build trains for a while)"
  jupyter-book build . -W --keep-going
  html=_build/html
fi
echo
echo "The book is at: $(pwd)/$html/index.html"
