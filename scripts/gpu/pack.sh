#!/usr/bin/env bash
# Packs what the GPU machine lacks into .cache/gpu-carry (ignored by git; name it in the device
# tool's `carry`): the Node binary (xz), the built engine, onnxruntime-node's linux-x64 runtime
# (CPU + WebGPU providers are inside it) and onnxruntime-common. The Vulkan loader Dawn needs for
# WebGPU goes to .gl/ as Debian packages, as the device README describes.
# Optional: put libonnxruntime_providers_cuda.so + libonnxruntime_providers_shared.so of the SAME
# onnxruntime version (1.30.0: NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux, runtimes/linux-x64/native)
# into .cache/gpu-carry/ort-cuda/ to try `--ep cuda` (they need CUDA 12 + cuDNN 9 libraries).
#
#   scripts/gpu/pack.sh            # then: device run, carry [".cache/gpu-carry", ".gl"], command "bash scripts/gpu/run.sh"
set -euo pipefail
cd "$(dirname "$0")/../.."
C=.cache/gpu-carry
mkdir -p "$C"
nice -n 10 npm run build -w engine >/dev/null
NODE_BIN=$(readlink -f "$(command -v node)")
if [ ! -s "$C/node.xz" ] || [ "$NODE_BIN" -nt "$C/node.xz" ]; then
  nice -n 10 xz -T2 -6 -c "$NODE_BIN" >"$C/node.xz.tmp" && mv "$C/node.xz.tmp" "$C/node.xz"
fi
ORT=node_modules/onnxruntime-node
nice -n 10 tar -cJf "$C/runtime.tar.xz.tmp" \
  --exclude="$ORT/bin/napi-v6/darwin" --exclude="$ORT/bin/napi-v6/win32" --exclude="$ORT/script" \
  engine/dist engine/package.json "$ORT" node_modules/onnxruntime-common
mv "$C/runtime.tar.xz.tmp" "$C/runtime.tar.xz"
node -p "require('./$ORT/package.json').version" >"$C/ort-version.txt"

# Vulkan loader and GL/EGL dispatch libraries (amd64 debs), per /work/.library/device/README.md.
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
fi
du -ch "$C"/* .gl/* | tail -1
echo "carry: .cache/gpu-carry .gl  (working tree + carry must stay under 64 MiB)"
