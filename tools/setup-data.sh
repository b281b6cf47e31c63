#!/usr/bin/env bash
# Installs what the test-suite and the training experiments read from disk: Debian's real Fashion-MNIST
# (dataset-fashion-mnist, IDX files under /usr/share/datasets/fashion-mnist). Nothing is downloaded at run
# time by the project itself; this is the one set-up step, run by the README's test command (and so CI).
# Where it cannot be installed (no apt-get, not root), it says so and the tests that need it skip with that
# reason; $FASHION_MNIST_DIR may point at a copy elsewhere.
set -uo pipefail
dir="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "setup-data: Fashion-MNIST not found in $dir and apt-get is unavailable (or not root);" \
         "tests that need it will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "setup-data: apt-get could not install dataset-fashion-mnist; tests that need it will be skipped" >&2
exit 0
