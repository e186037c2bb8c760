#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node 20 lacks, builds, and regenerates the sample clips.
# Idempotent: every step checks first, so running it again is quick.
# By default it installs everything the tests need too (README line 2 must pass after line 1):
# Debian's python3-torch (exporter tests), chromium (browser tests), dcmtk + dicom3tools (DICOM SEG),
# redis-server + postgresql (queue, workers and the shared store).
#   --minimal   only what running cineseg needs (ffmpeg, npm dependencies, build, samples)
set -euo pipefail
cd "$(dirname "$0")/.."

with_python=1
with_browser=1
with_dicom=1
with_cluster=1
for arg in "$@"; do
  case "$arg" in
    --minimal) with_python=0; with_browser=0; with_dicom=0; with_cluster=0 ;;
    --ci) ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

apt_missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_missing+=(ffmpeg)
if [ "$with_python" = 1 ] && ! /usr/bin/python3 -c 'import torch, numpy, onnx' >/dev/null 2>&1; then
  apt_missing+=(python3-torch python3-numpy python3-onnx)
fi
# nibabel: the independent reader the NIfTI tests check volumes and exports against.
if [ "$with_python" = 1 ] && ! /usr/bin/python3 -c 'import nibabel' >/dev/null 2>&1; then
  apt_missing+=(python3-nibabel)
fi
if [ "$with_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  apt_missing+=(chromium)
fi
if [ "$with_dicom" = 1 ]; then
  command -v dcmdump >/dev/null 2>&1 || apt_missing+=(dcmtk)
  command -v dciodvfy >/dev/null 2>&1 || apt_missing+=(dicom3tools)
fi
# The cluster's parts (issue 18): Redis for BullMQ's queue, PostgreSQL for the shared store. The tests
# start throwaway servers of their own on loopback ports (never the machine's services).
if [ "$with_cluster" = 1 ]; then
  command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_missing+=(postgresql)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${apt_missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  # nibabel brings scipy, which brings OpenBLAS and makes it the machine's BLAS: put the reference
  # BLAS back, so torch's numbers (and every figure measured with them) stay as they were.
  for ref in /usr/lib/x86_64-linux-gnu/blas/libblas.so.3 /usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3; do
    [ -f "$ref" ] && $sudo_cmd update-alternatives --set "$(basename "$ref")-x86_64-linux-gnu" "$ref" >/dev/null 2>&1 || true
  done
fi

# OpenBLAS for `cineseg finetune`: Debian's torch links the reference BLAS, ~15x slower on the
# trainer's matmuls. The package is unpacked into .cache/openblas (not installed: that would switch
# the BLAS of every program on the machine); the trainer alone puts it on LD_LIBRARY_PATH.
blas_dir=.cache/openblas/usr/lib/x86_64-linux-gnu/openblas-pthread
if [ "$with_python" = 1 ] && [ ! -f "$blas_dir/libblas.so.3" ] && [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  tmp_deb=$(mktemp -d)
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  # A machine whose package lists were never fetched cannot download: fetch them once and retry.
  if (cd "$tmp_deb" && apt-get download -qq libopenblas0-pthread >/dev/null 2>&1) ||
     { $sudo_cmd apt-get update -qq >/dev/null 2>&1 && (cd "$tmp_deb" && apt-get download -qq libopenblas0-pthread >/dev/null 2>&1); }; then
    mkdir -p .cache/openblas && dpkg -x "$tmp_deb"/libopenblas0-pthread_*.deb .cache/openblas
  else
    echo "setup: could not download libopenblas0-pthread; finetune will use the reference BLAS (slower)" >&2
  fi
  rm -rf "$tmp_deb"
fi

# onnxruntime-node downloads its CUDA provider at install time unless told not to (that download
# cannot work here; the CPU and WebGPU providers ship inside the package). Told through the
# environment, not .npmrc, where npm warns about an unknown key on every `npx cineseg`. GPU users:
# ONNXRUNTIME_NODE_INSTALL=cuda12 npm run setup.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
# npm ci when the lock file is there (reproducible), else npm install.
if [ -f package-lock.json ]; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
else
  npm install --no-audit --no-fund --loglevel=error
fi

npm run build --silent

# Synthetic clips are never committed: the generator is deterministic and remakes them.
node samples/dist/cli.js --out samples/generated --quiet
echo "setup: ready"
