#!/usr/bin/env bash
# GPU-machine run (H100/H200 image 'cuda': torch 2.11, transformers 5.x, OpenCV; no Node, no
# network, maybe no ffmpeg). Prepare here with scripts/gpu/pack.sh, then with the device tool:
#   run(command="bash scripts/gpu/run.sh", carry=[".cache/gpu-carry", ".gl"], timeout_s=600)
# Stages (default all, in this order; each writes under $OUT as it finishes):
#   setup   unpack Node + engine + onnxruntime-node, Vulkan loader, CUDA provider if carried
#   export  sam2.1_hiera_t at 1024 px, random weights (fp32 + fp16) with the device's torch
#   engine  bench_engine.mjs: fps for 1 and 8 objects on --ep webgpu, cuda (and fp16 on webgpu)
#   hf      bench_hf.py: transformers Sam2VideoModel fps, fp32 and bf16, same clip and objects
#   parity  run_parity.py --reference transformers on 60 frames (engine on webgpu)
#   STAGES="setup export engine" bash scripts/gpu/run.sh     # a subset
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-/tmp/cineseg-gpu-out}
mkdir -p "$OUT"
STAGES=${STAGES:-setup export engine hf parity}
FRAMES=${FRAMES:-60}
CLIP=${CLIP:-samples/real/ultrasound-catheter.mp4}
C=.cache/gpu-carry
B=/tmp/cineseg-bundles
LOG="$OUT/run.log"
log() { echo "[$(date -u +%T)] $*" | tee -a "$LOG"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
export PYTHONUNBUFFERED=1

# Setup is needed by every later stage on a fresh machine, so it always runs.
log "setup"
mkdir -p /tmp/node/bin
xz -dc "$C/node.xz" >/tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
tar -xJf "$C/runtime.tar.xz"
NAPI=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [ -f "$C/ort-cuda/libonnxruntime_providers_cuda.so" ]; then
  cp "$C"/ort-cuda/*.so "$NAPI/" && log "CUDA provider library carried in ($(cat "$C/ort-version.txt"))"
else
  log "no CUDA provider library carried: --ep cuda will fall back to the CPU (the engine logs why)"
fi
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
{ node --version; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; python3 -c 'import torch,transformers;print("torch",torch.__version__,"transformers",transformers.__version__)'; command -v ffmpeg || echo "no ffmpeg (OpenCV decodes)"; ldconfig -p | grep -c libvulkan; } >"$OUT/env.txt" 2>&1
node -e "console.log(JSON.stringify(require('onnxruntime-node').listSupportedBackends()))" >>"$OUT/env.txt" 2>&1

if has export; then
  log "export (device torch)"
  python3 -m models.export.export_bundle --config sam2.1_hiera_t --random-weights --seed 0 --no-selftest --out $B/sam21t-1024 >"$OUT/export.log" 2>&1 || log "export fp32 FAILED"
  python3 -m models.export.to_fp16 $B/sam21t-1024 $B/sam21t-1024-fp16 >>"$OUT/export.log" 2>&1 || log "fp16 conversion FAILED"
  grep '\[export\]' "$OUT/export.log" | tee -a "$LOG"
fi

if has engine; then
  for ep in webgpu cuda; do
    log "engine fps on $ep"
    timeout 240 node scripts/gpu/bench_engine.mjs --bundle $B/sam21t-1024 --video "$CLIP" --ep $ep --objects 1,8 --frames "$FRAMES" \
      --out "$OUT/engine-$ep.json" 2>&1 | tee -a "$LOG"
  done
  log "engine fps on webgpu, fp16 bundle"
  timeout 180 node scripts/gpu/bench_engine.mjs --bundle $B/sam21t-1024-fp16 --video "$CLIP" --ep webgpu --objects 1,8 --frames "$FRAMES" \
    --out "$OUT/engine-webgpu-fp16.json" 2>&1 | tee -a "$LOG"
fi

if has hf; then
  for dt in fp32 bf16; do
    log "transformers fps ($dt)"
    timeout 180 python3 scripts/gpu/bench_hf.py --video "$CLIP" --frames "$FRAMES" --objects 1,8 --dtype $dt --out "$OUT/hf-$dt.json" 2>&1 | tee -a "$LOG"
  done
fi

if has parity; then
  log "parity vs transformers"
  timeout 300 python3 -m models.parity.run_parity --bundle $B/sam21t-1024 --reference transformers --device cuda --ep webgpu \
    --video samples/real/aquarium.mp4 --mask samples/real/aquarium-mask-frame0.png --frames "$FRAMES" --out /tmp/parity-hf 2>&1 | tail -12 | tee -a "$LOG"
  cp /tmp/parity-hf/parity.md /tmp/parity-hf/parity.json "$OUT/" 2>/dev/null
fi
log "done"
