#!/usr/bin/env bash
# Every GPU check on a lent machine, in one device call, each step with its own time limit.
# Here first: `python benchmarks/gpu_carry.py pack`; then run, carrying .cache/carry:
#     bash benchmarks/gpu_run.sh check      # environment, GPU tests, CLI on the GPU, gpu_check.py, training
#     bash benchmarks/gpu_run.sh variants   # gpu_variants.py (torch settings, transfers)
# Logs and JSON land in $OUT (default ./out).
set -u
step=${1:-check}
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export GANRT_CACHE=$PWD/.cache/gpu-cache PYTHONPATH=$PWD/src:$PWD/.cache/carry/py
export IMAGEIO_FFMPEG_EXE=$PWD/.cache/carry/bin/ffmpeg
[ -x "$IMAGEIO_FFMPEG_EXE" ] || python3 benchmarks/gpu_carry.py unpack > "$OUT/unpack.txt" 2>&1
mkdir -p .cache/bin
printf '#!/bin/sh\nexec python3 -m ganrt "$@"\n' > .cache/bin/ganrt && chmod +x .cache/bin/ganrt
export PATH=$PWD/.cache/bin:$PATH

lap() {  # lap NAME SECONDS CMD...: run CMD with a limit, log to $OUT/NAME.txt, report its time
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$OUT/steps.txt"
}

if [ "$step" = check ]; then
  lap environment 30 bash -c 'nvidia-smi; nvidia-smi -q | grep -i -A3 "clocks\b" | head -20; python3 -c "
import torch, onnxruntime, sys; print(sys.version); print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())
print(onnxruntime.__version__, onnxruntime.get_available_providers())"; ldconfig -p | grep -i nvinfer; nproc; free -g'
  lap gpu_check 300 python3 benchmarks/gpu_check.py --out "$OUT"
  lap pytest_gpu 90 python3 -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py
  lap restore_samples 60 bash -c "time ganrt restore samples /tmp/restored --preview $OUT/preview.png"
  lap restore_rerun 20 bash -c "time ganrt restore samples /tmp/restored"
  lap pytest_cuda_marked 60 python3 -m pytest -q -rs -p no:cacheprovider -m "cuda or tensorrt" \
    tests/test_bench.py tests/test_conformance.py tests/test_cli_contract.py
  lap doctor 20 ganrt doctor
  lap train_srgan 60 bash -c "ganrt train srgan --data samples --run /tmp/run --max-steps 300 --val-every 100 \
    --checkpoint-every 300 --device cuda; ls -la /tmp/run; cp /tmp/run/*.json* /tmp/run/*.csv $OUT/ 2>/dev/null"
elif [ "$step" = variants ]; then
  lap gpu_variants 540 python3 benchmarks/gpu_variants.py --out "$OUT"
fi
cat "$OUT/steps.txt"
