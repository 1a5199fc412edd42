#!/usr/bin/env bash
# Installs the Debian packages promoe builds against, when any is missing.
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libeigen3-dev      # CPU math, double matrix products
  libdnnl-dev        # oneDNN: float matrix products on the CPU
  libomp-dev         # OpenMP runtime for clang users; g++ ships libgomp
  doctest-dev        # unit tests
  libcli11-dev       # command line
  nlohmann-json3-dev # safetensors headers, configs
  libstb-dev         # PNG writing
  libcairo2-dev      # charts: heatmaps, line plots (brings FreeType's headers)
  fonts-dejavu-core  # the charts' font
  zlib1g-dev         # reading the gzipped IDX files
  libjpeg62-turbo-dev  # decoding JPEG images (promoe encode)
  clang-format       # the tree's style, checked by the tests (scripts/format.sh)
  dataset-fashion-mnist  # the default training data
  libopenmpi-dev openmpi-bin  # multi-process training (mpirun -np N promoe train)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  $cmd
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: run as root:  sudo $cmd" >&2
  exit 1
fi
