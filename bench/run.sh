#!/usr/bin/env bash
# make bench: the cost of steering (issue 9), measured in-process by bench/OnnxSteer.Bench and written to bench/results.md.
# Every figure compares contenders run round-robin in one process (one run of each per round, the starting one rotating),
# so load drift on a shared machine hits them alike; ratios are medians of per-round pairs. Benchmarks are not tests:
# nothing here fails CI. Generated models live in the git-ignored bench/work/ and are reused by later runs.
#
# Knobs (environment):
#   BENCH_RUNS=5          rounds per figure (median, min-max reported)
#   BENCH_QUICK=1         skip the full-size B1 model (32 layers, 4096 hidden, 11008 intermediate, fp16: 12.6 GiB of data)
#   BENCH_SKIP="..."      parts to skip: b1 b1inline bdn b2 b2big b3 b4 bmem torch
#   BENCH_TORCH_ROUNDS=3  rounds of the PyTorch comparison (issue 29; needs Debian's python3-torch, python3-onnx, python3-numpy, libopenblas0-pthread)
#   BENCH_TORCH_MODELS=stories260K,100M,400M,100M-boolq   (100M-boolq reuses the 100M model: list it after)
#   BENCH_TORCH_WORK=bench/work/torch   where the synthetic models and llama2.c checkpoints live (~400M: 3.2 GB; /tmp is fine)
#   BENCH_TORCH_EQUAL=0   threads both sides get in the equal-threads rows (0: the usable CPUs)
#   BENCH_TORCH_PATCH_CLIS="LABEL=COMMAND;..."   the onnxsteer builds timed against the python-onnx patch script (default: the CLI)
#   BENCH_MEM_RUNS=1      BMEM: rounds of generate/profile peak-RSS pairs (each a fresh process)
#   BENCH_COLD=1          B1: also time a cold read of the data file (evicted from the page cache first)
#   BENCH_B2_BIG_PASSES=1 passes of all 256 pairs on the ~100M model (each pass is split into 5 blocks for the spread)
#   BENCH_NEW_TOKENS=32   decode length for B3
#   BENCH_OUT=bench/results.md
set -euo pipefail
ONNXSTEER=${1:-"dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"}
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
QUICK=${BENCH_QUICK:-0}
COLD=${BENCH_COLD:-1}
NEW_TOKENS=${BENCH_NEW_TOKENS:-32}
SKIP=" ${BENCH_SKIP:-} "
OUT=${BENCH_OUT:-bench/results.md}
work=bench/work
mkdir -p "$work"
skip() { [[ $SKIP == *" $1 "* ]]; }
say() { printf '\033[1m== %s %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
read -ra CLI <<< "$ONNXSTEER"
cli() { "${CLI[@]}" "$@"; }

say "building bench/OnnxSteer.Bench (Release)"
dotnet build bench/OnnxSteer.Bench -c Release -v:q --nologo > "$work/bench-build.log" 2>&1 || { tail -n 20 "$work/bench-build.log"; exit 1; }
BENCH=(dotnet bench/OnnxSteer.Bench/bin/Release/net10.0/OnnxSteer.Bench.dll)
bench() { "${BENCH[@]}" "$@"; }

report=$work/results.body.md
: > "$report"
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# synth_once DIR ARGS...: a synthetic model, generated once.
synth_once() {
  local dir=$1; shift
  if [[ ! -f $dir/model/model.onnx.data ]]; then
    say "synth llama $* -> $dir/model"
    rm -rf "$dir"
    cli synth llama -o "$dir/model" "$@" > /dev/null
  fi
}

# ---------------------------------------------------------------- B1: patch cost, external data (full size)
if ! skip b1 && [[ $QUICK != 1 ]]; then
  b1=$work/b1-L32-H4096-I11008-V32000-fp16
  df -h "$work" | tail -n 1 | awk '{ print "bench: free disk before B1: " $4 }' >&2
  synth_once "$b1" --layers 32 --hidden 4096 --intermediate 11008 --heads 32 --vocab 32000 --dtype fp16 --style genai
  say "B1: $RUNS rounds: copy graph file, read data (cold, warm), patch k=100, patch every unit"
  bench b1 "$b1/model" "$b1/profile.json" "$work/tmp" "$RUNS" "$([[ $COLD == 1 ]] && echo cold || echo warm)" --report "$report"
fi

# ---------------------------------------------------------------- B1 inline: 1 GB model, the whole file rewritten
if ! skip b1inline; then
  b1i=$work/b1i-L8-H2048-I5504-V32000-fp16
  synth_once "$b1i" --layers 8 --hidden 2048 --intermediate 5504 --heads 16 --vocab 32000 --dtype fp16 --style genai
  bench profile "$b1i/model" "$b1i/profile.json"
  if [[ ! -f $b1i/inline/model.onnx ]]; then
    say "B1 inline: repack --inline"
    mkdir -p "$b1i/inline"
    cli repack "$b1i/model" --inline -o "$b1i/inline/model.onnx" > /dev/null
  fi
  say "B1 inline: $RUNS rounds: File.Copy, streaming patch, ordinary patch"
  bench b1-inline "$b1i/inline/model.onnx" "$b1i/profile.json" "$work/tmp" "$RUNS" --report "$report"
fi

# ---------------------------------------------------------------- B1 stages under BenchmarkDotNet
if ! skip bdn; then
  bdn_model=$work/b1-L32-H4096-I11008-V32000-fp16
  [[ $QUICK == 1 || ! -f $bdn_model/profile.json ]] && bdn_model=$work/b1i-L8-H2048-I5504-V32000-fp16
  if [[ -f $bdn_model/profile.json ]]; then
    say "B1 stages: BenchmarkDotNet on $bdn_model"
    rm -rf "$work/bdn"
    BENCH_BDN_MODEL=$bdn_model/model BENCH_BDN_PROFILE=$bdn_model/profile.json \
      bench bdn --filter '*PatchStageBenchmarks*' --artifacts "$work/bdn" > "$work/bdn.log" 2>&1 || echo "bench: BenchmarkDotNet failed (see $work/bdn.log)" >&2
    if compgen -G "$work/bdn/results/*-report-github.md" > /dev/null; then
      {
        echo "### B1 stages under BenchmarkDotNet 0.14.0"
        echo ""
        echo "The stages of a k=100 patch on \`$bdn_model/model\` (profile.json $(du -h "$bdn_model/profile.json" | cut -f1)), in-process toolchain, 3 warm-ups and 7 iterations"
        echo "(class \`PatchStageBenchmarks\`). BenchmarkDotNet runs one benchmark after another, so unlike the tables above these are not interleaved."
        echo ""
        sed -n '/^|/,$p' "$work"/bdn/results/*-report-github.md
        echo ""
      } >> "$report"
    fi
  fi
fi

# ---------------------------------------------------------------- B2: profiling overhead
if ! skip b2; then
  echo "## B2 — profiling overhead: taps vs none (in-process)" >> "$report"
  echo "" >> "$report"
  s260=$work/stories260K
  if [[ ! -f $s260/model/model.onnx ]]; then
    say "B2: import stories260K from ../shared"
    rm -rf "$s260"
    cli import llama2c ../shared/models/stories260K/stories260K.bin --tokenizer ../shared/models/stories260K/tok512.bin \
      -o "$s260/model" --style genai --dtype fp32 > /dev/null
  fi
  say "B2: stories260K, $RUNS rounds"
  bench b2 "$s260/model" "stories260K (imported, genai style, fp32)" "$RUNS" --report "$report"
  if ! skip b2big; then
    b2=$work/b2-L8-H768-I2048-V32000-fp32
    synth_once "$b2" --layers 8 --hidden 768 --intermediate 2048 --heads 12 --vocab 32000 --dtype fp32 --style genai
    say "B2: synthetic ~100M-parameter model, ${BENCH_B2_BIG_PASSES:-1} pass(es)"
    bench b2 "$b2/model" "synthetic ~100M parameters (synth 8 layers, 768 hidden, 2048 intermediate, vocab 32000, fp32)" "${BENCH_B2_BIG_PASSES:-1}" --report "$report"
  fi
fi

# ---------------------------------------------------------------- B3: steered inference overhead
if ! skip b3; then
  b3=$work/b3-L4-H1024-I2752-V4096-fp32
  synth_once "$b3" --layers 4 --hidden 1024 --intermediate 2752 --heads 8 --vocab 4096 --dtype fp32 --style genai
  say "B3: $RUNS rounds of prefill/decode on vanilla, Mul k=100, Mul every unit, folded, gated k=100 (DSAS)"
  bench b3 "$b3/variants" "$b3/model" "$b3/profile.json" "$RUNS" "$NEW_TOKENS" --report "$report"
fi

# ---------------------------------------------------------------- B4: tokenizer throughput vs an independent implementation
if ! skip b4; then
  tok=../shared/models/tiny-random-llama-genai-fp16/tokenizer.json
  text=$work/b4-text.txt
  bench b4-text "$text"
  runs=$work/b4-runs.jsonl
  : > "$runs"
  node_ok=0
  if command -v node > /dev/null && (cd bench/node && { [[ -d node_modules/@huggingface/tokenizers ]] || npm ci --no-audit --no-fund > /dev/null 2>&1; }); then node_ok=1; fi
  say "B4: $RUNS alternating runs of OnnxSteer and @huggingface/tokenizers (node: $node_ok)"
  for ((i = 0; i < RUNS; i++)); do
    bench b4 "$tok" "$text" >> "$runs"
    if [[ $node_ok == 1 ]]; then node bench/node/encode.mjs "$tok" "$text" >> "$runs"; fi
  done
  bench b4-report "$runs" "$tok" --report "$report"
fi

# ---------------------------------------------------------------- BMEM: peak RSS of profile vs generate (issue 21)
# Fresh processes, peak RSS from /usr/bin/time; fp16 at 337 MB of weights, external data and inline (profile loads
# inline weights lean). Never a 7B shape here: the machine is shared.
if ! skip bmem && [[ -x /usr/bin/time ]]; then
  mem=$work/bmem-L8-H1024-I2816-V32000-fp16
  synth_once "$mem" --layers 8 --hidden 1024 --intermediate 2816 --heads 16 --vocab 32000 --dtype fp16 --style genai
  if [[ ! -f $mem/inline/model.onnx ]]; then
    mkdir -p "$mem/inline" && cp "$mem"/model/{genai_config.json,tokenizer.json,tokenizer_config.json} "$mem/inline/"
    cli repack "$mem/model" --inline -o "$mem/inline/model.onnx" > /dev/null
  fi
  for i in $(seq 0 15); do echo "{\"prompt\": \"Question $i: is the sky blue? Answer:\", \"positive\": \" yes\", \"negative\": \" no\"}"; done > "$mem/pairs.jsonl"
  rss() { /usr/bin/time -f %M -o "$mem/rss" "$@" > /dev/null 2>&1; cat "$mem/rss"; }
  {
    echo "## BMEM: peak RSS of profile vs generate (fp16, 337 MB of weights, CPU)"
    echo ""
    echo "| layout | round | generate peak RSS | profile peak RSS | profile / generate | estimate printed by profile |"
    echo "|---|---|---|---|---|---|"
  } >> "$report"
  for layout in model inline; do
    for r in $(seq 1 "${BENCH_MEM_RUNS:-1}"); do
      say "BMEM: $layout round $r"
      g=$(rss "${CLI[@]}" generate "$mem/$layout" --prompt "Once upon a time" --max-new-tokens 4)
      p=$(rss "${CLI[@]}" profile "$mem/$layout" --pairs "$mem/pairs.jsonl" -q -o "$mem/profile-$layout.json")
      est=$("${CLI[@]}" profile "$mem/$layout" --pairs "$mem/pairs.jsonl" --pairs-limit 1 -q -o "$mem/est.json" 2>&1 >/dev/null | grep -m1 '^memory:' || true)
      awk -v l="$([[ $layout == model ]] && echo external || echo inline)" -v r="$r" -v g="$g" -v p="$p" -v e="$est" \
        'BEGIN { printf "| %s | %d | %.0f MB | %.0f MB | %.2f | %s |\n", l, r, g / 1024, p / 1024, p / g, e }' >> "$report"
    done
  done
  echo "" >> "$report"
fi

# ---------------------------------------------------------------- PyTorch comparison (issue 29)
# OnnxSteer against a PyTorch Llama with forward hooks (what AUSteer's own code does), checked to give the same greedy
# tokens and counts before any timing; and `onnxsteer patch` against a careful python-onnx script. See bench/torch/.
if ! skip torch; then
  if /usr/bin/python3 -c "import torch, onnx, numpy" 2> /dev/null; then
    say "PyTorch comparison (${BENCH_TORCH_MODELS:-stories260K,100M,400M,100M-boolq}), ${BENCH_TORCH_ROUNDS:-3} rounds"
    /usr/bin/python3 bench/torch/compare.py --cli "${CLI[*]}" --bench "${BENCH[*]}" --work "${BENCH_TORCH_WORK:-$work/torch}" \
      --rounds "${BENCH_TORCH_ROUNDS:-3}" --models "${BENCH_TORCH_MODELS:-stories260K,100M,400M,100M-boolq}" --report "$report" \
      --equal-threads "${BENCH_TORCH_EQUAL:-0}" --patch-clis "${BENCH_TORCH_PATCH_CLIS:-}"
  else
    printf '## PyTorch comparison: not run\n\nInstall python3-torch, python3-onnx, python3-numpy and libopenblas0-pthread (apt-get) to run it.\n\n' >> "$report"
  fi
fi

load_end=$(load)
{
  echo "<!-- generated by bench/run.sh ($started); hand-written notes live in bench/results.md below the figures -->"
  echo "## Machine"
  echo ""
  echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); memory $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) ($(free -g | awk '/Mem:/ { print $7 " GiB available at the end" }'))"
  echo "- $(uname -sr); $(dotnet --version 2> /dev/null | sed 's/^/.NET SDK /'); ONNX Runtime 1.32 CPU (NuGet), intra-op threads = usable CPUs ($(nproc)); node $(node --version 2> /dev/null || echo n/a)"
  echo "- load average (1, 5, 15 min) at start: $load_start; at end: $load_end (on $(nproc) CPUs: above $(nproc) means other"
  echo "  work shared the machine and absolute times are inflated). Every comparison ran round-robin ($RUNS rounds) in one"
  echo "  process, and ratios are medians of per-round pairs (min–max of those pairs in brackets)."
  echo "- started $started; finished $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo ""
  cat "$report"
} > "$work/results.generated.md"
# Keep the hand-written part of results.md (everything from the '<!-- notes -->' marker on) and replace the figures.
notes=""
[[ -f $OUT ]] && notes=$(sed -n '/^<!-- notes -->/,$p' "$OUT")
{
  echo "# Benchmarks (issue 9): results of \`make bench\`"
  echo ""
  cat "$work/results.generated.md"
  if [[ -n $notes ]]; then printf '%s\n' "$notes"; fi
} > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
say "wrote $OUT"
