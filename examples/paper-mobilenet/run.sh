#!/usr/bin/env bash
# The LayerNAS paper's MobileNet experiment in miniature (README.md beside this file).
#   examples/paper-mobilenet/run.sh --quick --out paper-quick   # the embedded subset, ~30 min on 2 cores
#   examples/paper-mobilenet/run.sh --out paper-full            # full Fashion-MNIST (hours)
#   examples/paper-mobilenet/run.sh --quick --dry-run           # the plan only, no training
# The full run installs Debian's dataset-fashion-mnist when it is missing (and --data-dir is not
# given). LAYERNAS_PAPER_BIN names an already built binary (the test uses it); otherwise the
# script builds the release binary first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
debian=/usr/share/datasets/fashion-mnist
quick=0 dry=0 data=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --dry-run) dry=1 ;;
    --data-dir|--data-dir=*) data=1 ;;
  esac
done
if [[ $quick == 0 && $data == 0 && ! -e $debian/train-images-idx3-ubyte.gz ]]; then
  if [[ $dry == 1 ]]; then
    echo "note: $debian is missing; the full run installs Debian's dataset-fashion-mnist first"
  else
    echo "installing Debian's dataset-fashion-mnist (the full Fashion-MNIST, 30 MB)"
    sudo=""
    if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
    $sudo apt-get install -y dataset-fashion-mnist
  fi
fi
bin="${LAYERNAS_PAPER_BIN:-}"
if [[ -z $bin ]]; then
  cargo build --release --locked --manifest-path "$root/Cargo.toml" -p paper-mobilenet
  bin="$root/target/release/paper-mobilenet"
fi
exec "$bin" "$@"
