#!/usr/bin/env bash
# Installs every Debian package xomni needs to build, test and benchmark.
# Idempotent: packages already present are skipped and nothing is printed for them.
# Usage: scripts/install_deps.sh [--with-peers]   (--with-peers adds PyTorch for fixtures/benchmarks)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-openmp-dev libomp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libtomlplusplus-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev
  clang-format shellcheck
  clang libclang-rt-14-dev
  libtesseract-dev tesseract-ocr-eng libleptonica-dev libcairo2-dev fonts-dejavu-core zlib1g-dev
  libpng-dev libjpeg-dev
  munge slurmctld slurmd slurm-client
  python3-h5py python3-numpy
  chromium  # headless, for the report.html test (tests/jobs/cli/report_study.sh)
)
if [[ "${1:-}" == "--with-peers" ]]; then
  packages+=(python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null
$SUDO apt-get -qq -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >/dev/null
