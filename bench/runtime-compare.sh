#!/usr/bin/env bash
# Official ONNX Runtime (Microsoft.ML.OnnxRuntime 1.32.0, this tree) vs the previous OrtApi binding over the npm
# onnxruntime-node 1.30 library (commit 7cfbf26), B3 only: the bench runs alternate process by process
# (old, new, old, new, ...) on the same model so load drift hits both alike.
#
#   git worktree add /tmp/old-rt 7cfbf26 && mkdir -p /tmp/old-rt/runtimes/linux-x64 \
#     && cp <libonnxruntime.so.1 from onnxruntime-node 1.30> /tmp/old-rt/runtimes/linux-x64/ \
#     && (cd /tmp/old-rt && dotnet build bench/OnnxSteer.Bench -c Release)
#   bash bench/runtime-compare.sh /tmp/old-rt [PAIRS=3] [ROUNDS=5] [NEW_TOKENS=32]
#
# Prints one line per run (prefill and decode-per-token medians of the vanilla model and of Mul k=100) and the per-pair
# ratios new/old; the B3 reports of every run stay in bench/work/runtime-compare/.
set -euo pipefail
old=${1:?usage: runtime-compare.sh OLD_TREE [PAIRS] [ROUNDS] [NEW_TOKENS]}
pairs=${2:-3}; rounds=${3:-5}; tokens=${4:-32}
cd "$(dirname "$0")/.."
b3=bench/work/b3-L4-H1024-I2752-V4096-fp32
out=bench/work/runtime-compare
mkdir -p "$out"
[[ -f $b3/model/model.onnx.data ]] || dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll synth llama -o "$b3/model" \
  --layers 4 --hidden 1024 --intermediate 2752 --heads 8 --vocab 4096 --dtype fp32 --style genai > /dev/null
dotnet build bench/OnnxSteer.Bench -c Release -v:q --nologo > /dev/null
declare -A dll=([new]=bench/OnnxSteer.Bench/bin/Release/net10.0/OnnxSteer.Bench.dll [old]=$old/bench/OnnxSteer.Bench/bin/Release/net10.0/OnnxSteer.Bench.dll)
# ms figures of one variant's row: prefill median, decode-per-token median
row() { grep -m1 "^| $2 |" "$1" | awk -F'|' '{ gsub(/ ms/, ""); print $3, $5 }'; }
for ((i = 0; i < pairs; i++)); do
  for side in old new; do
    report=$out/$side-$i.md
    rm -rf "$out/variants-$side" "$report" # the bench appends to an existing report
    dotnet "${dll[$side]}" b3 "$out/variants-$side" "$b3/model" "$out/profile-$side.json" "$rounds" "$tokens" --report "$report" > /dev/null
    echo "$side $i vanilla $(row "$report" vanilla) mulk100 $(row "$report" 'Mul k=100') load $(cut -d' ' -f1 /proc/loadavg)"
  done
done | tee "$out/runs.txt"
awk '{ p[$1 $2] = $4; d[$1 $2] = $5; pm[$1 $2] = $7; dm[$1 $2] = $8 }
  END { for (i = 0; i < '"$pairs"'; i++) printf "pair %d: new/old vanilla prefill %.3f decode/token %.3f; Mul k=100 prefill %.3f decode/token %.3f\n",
        i, p["new" i] / p["old" i], d["new" i] / d["old" i], pm["new" i] / pm["old" i], dm["new" i] / dm["old" i] }' "$out/runs.txt"
