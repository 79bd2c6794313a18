#!/usr/bin/env bash
# Every GPU check on a lent machine, in one device call, each step with its own time limit.
# Here first: `python benchmarks/gpu_carry.py pack`; then run, carrying .cache/carry:
#     bash benchmarks/gpu_run.sh check      # environment, gpu_check.py, GPU tests, CLI on the GPU, training
#     bash benchmarks/gpu_run.sh variants   # gpu_variants.py (torch settings, transfers)
# or `python benchmarks/gpu_carry.py pack-amx`, carrying .cache/carry19:
#     bash benchmarks/gpu_run.sh amx        # issue 19's whole commands on the machine's CPU
# Logs and JSON land in $OUT (default ./out).
set -u
step=${1:-check}
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export GANRT_CACHE=$PWD/.cache/gpu-cache PYTHONPATH=$PWD/src:$PWD/.cache/carry/py
export IMAGEIO_FFMPEG_EXE=$PWD/.cache/carry/bin/ffmpeg GANRT_TEST_SEED_CACHE=$GANRT_CACHE
[ -d .cache/carry ] && [ ! -x "$IMAGEIO_FFMPEG_EXE" ] && python3 benchmarks/gpu_carry.py unpack > "$OUT/unpack.txt" 2>&1
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
  lap video_cli 90 bash -c "\"$IMAGEIO_FFMPEG_EXE\" -v error -f lavfi -i testsrc2=size=1280x720:rate=24 -f lavfi \
    -i sine=frequency=440 -t 4 -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest -y /tmp/clip.mp4 && \
    time ganrt video /tmp/clip.mp4 /tmp/clip_x4.mp4 && ls -la /tmp/clip_x4.mp4"
  lap train_srgan 60 bash -c "ganrt train srgan --data samples --run /tmp/run --max-steps 300 --val-every 100 \
    --checkpoint-every 300 --device cuda; ls -la /tmp/run; cp /tmp/run/*.json* /tmp/run/*.csv $OUT/ 2>/dev/null"
elif [ "$step" = amx ]; then  # issue 19 on the lent machine's CPU (AMX), GPU hidden, 2 cores
  # .cache/carry19 (gpu_carry.py pack-amx): openvino, ncnn and a site folder, each an xz tar
  S=$PWD/.cache/site; mkdir -p "$S"
  for t in .cache/carry19/*.tar.xz; do tar -C "$S" -xJf "$t"; done
  export PYTHONPATH=$PWD/src:$S GANRT_CACHE=$PWD/.cache/amx-cache CUDA_VISIBLE_DEVICES=
  lap cpu 20 bash -c "lscpu; taskset -c 0,1 python3 -m ganrt doctor"
  lap startup 120 bash -c 'for m in "" numpy cv2 openvino ncnn torch; do for i in 1 2; do
    TIMEFORMAT="import ${m:-nothing}: %R s"; time taskset -c 0,1 python3 -c "import sys${m:+, $m}"; done; done
    python3 -c "import numpy as n, PIL.Image as I; I.fromarray((n.random.rand(240,320,3)*255).astype(n.uint8)).save(\"/tmp/p.png\")"
    taskset -c 0,1 python3 -m ganrt restore /tmp/p.png /tmp/q.png -q --overwrite
    TIMEFORMAT="ganrt restore 320x240: %R s"
    for i in 1 2; do time taskset -c 0,1 python3 -m ganrt restore /tmp/p.png /tmp/q.png -q --overwrite; done
    taskset -c 0,1 python3 -X importtime -m ganrt restore /tmp/p.png /tmp/q.png -q --overwrite 2> /tmp/imp.txt
    sort -t"|" -k2 -n -r /tmp/imp.txt | head -30
    taskset -c 0,1 python3 -m cProfile -s cumtime -m ganrt restore /tmp/p.png /tmp/q.png -q --overwrite | head -60'
  for case in "realesr-animevideov3 320x240" "RealESRGAN_x4plus 160x120"; do
    set -- $case
    lap "whole_$1_$2" 240 taskset -c 0,1 python3 benchmarks/whole_command.py --models "$1" --sizes "$2"
  done
  cp benchmarks/results/whole_command.* "$OUT/"
elif [ "$step" = variants ]; then
  lap gpu_variants 540 python3 benchmarks/gpu_variants.py --out "$OUT"
fi
cat "$OUT/steps.txt"
