#!/usr/bin/env bash
# Every measurement issue 29 asks for, in one run, written to bench/results.md (the figures above its notes):
#   - OnnxSteer vs PyTorch with hooks on ~100M and ~400M synthetic Llamas: profiling pairs/s at both tools' default
#     threads and at equal threads, steered decode tokens/s, each checked for identical tokens and counts first;
#   - `onnxsteer patch` (the portable build and the Native AOT executable of `make tool`) vs the careful python-onnx script;
#   - B1–B4 (and BMEM) of bench/run.sh at the current defaults (ONNX Runtime threads = usable CPUs).
# Everything runs under `nice -n -10` (root) so that builds elsewhere on the machine take less of its time; the load
# average before and after is recorded by bench/run.sh. The synthetic models and checkpoints live in $TORCH_WORK
# (default /tmp/onnxsteer-torch; the ~400M one is 3.2 GB) and are made once, then reused.
#
#   bash bench/torch/run-all.sh              the full run (~30–40 min on 2 quiet cores; see bench/results.md)
#   bash bench/torch/run-all.sh --rehearse   stories260K only, 1 round, small parts: checks the script (~5 min),
#                                            writes /tmp/onnxsteer-rehearsal.md, leaves bench/results.md alone
set -euo pipefail
cd "$(dirname "$0")/../.."
TORCH_WORK=${TORCH_WORK:-/tmp/onnxsteer-torch}
began=$(date +%s)
NICE=(nice -n -10)
[[ $(id -u) == 0 ]] || NICE=()

# BENCH_NO_BUILD=1: use the builds already there (a rehearsal just made them), so the timed run starts at once.
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  make build > /dev/null
  make tool > /dev/null
fi
portable="dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"
native="artifacts/onnxsteer-linux-x64/onnxsteer"
export BENCH_TORCH_WORK=$TORCH_WORK
export BENCH_TORCH_PATCH_CLIS="portable=$portable;native-aot=$native"

if [[ ${1:-} == --rehearse ]]; then
  export BENCH_TORCH_MODELS=stories260K BENCH_TORCH_ROUNDS=1 BENCH_RUNS=1 BENCH_QUICK=1 BENCH_COLD=0
  export BENCH_SKIP="b1inline bdn b2big bmem" BENCH_OUT=/tmp/onnxsteer-rehearsal.md
  rm -f "$BENCH_OUT"
  NICE=()  # a rehearsal checks the script, not the timings: it takes no priority from others
else
  export BENCH_TORCH_MODELS=${BENCH_TORCH_MODELS:-100M,400M,100M-boolq} BENCH_TORCH_ROUNDS=${BENCH_TORCH_ROUNDS:-3}
  export BENCH_RUNS=${BENCH_RUNS:-3} BENCH_QUICK=${BENCH_QUICK:-1} BENCH_SKIP=${BENCH_SKIP:-bdn}
fi
"${NICE[@]}" bash bench/run.sh "$portable"
echo "run-all: $(( ($(date +%s) - began) / 60 )) min; figures in ${BENCH_OUT:-bench/results.md}" >&2
