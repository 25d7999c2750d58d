#!/usr/bin/env bash
# make bench: whole-process timings of the cost of steering (issue 9), written to bench/results.md.
# Every figure is a ratio of two things measured side by side in one run, round-robin (one run of each
# contender per round), so load drift on a shared machine hits all contenders alike.
# Benchmarks are not tests: nothing here fails CI. Generated models live in the git-ignored bench/work/.
#
# Knobs (environment):
#   BENCH_RUNS=5                     rounds per figure (median, min-max reported)
#   BENCH_INLINE_RUNS=$BENCH_RUNS   rounds for the inline B1 case (each rewrites ~1 GB)
#   BENCH_B1="8 2048 5504 16 32000"  B1 model: layers hidden intermediate heads vocab (fp16, external data, ~1 GB)
#   BENCH_B3="4 1024 2752 8 4096"    B3 model: layers hidden intermediate heads vocab (fp32)
#   BENCH_NEW_TOKENS=32              decode length for B3
#   BENCH_SKIP="b1inline"            space-separated parts to skip: b1 b1inline b3
#   BENCH_OUT=bench/results.md       where the report goes
set -euo pipefail
ONNXSTEER=${1:-"dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"}
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-5}
INLINE_RUNS=${BENCH_INLINE_RUNS:-$RUNS}
read -r B1_LAYERS B1_HIDDEN B1_INTER B1_HEADS B1_VOCAB <<< "${BENCH_B1:-8 2048 5504 16 32000}"
read -r B3_LAYERS B3_HIDDEN B3_INTER B3_HEADS B3_VOCAB <<< "${BENCH_B3:-4 1024 2752 8 4096}"
NEW_TOKENS=${BENCH_NEW_TOKENS:-32}
SKIP=" ${BENCH_SKIP:-} "
OUT=${BENCH_OUT:-bench/results.md}
work=bench/work
times=$work/times
logs=$work/logs
rm -rf "$times" "$logs"
mkdir -p "$times" "$logs"
skip() { [[ $SKIP == *" $1 "* ]]; }
say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
read -ra CLI <<< "$ONNXSTEER"   # a command line: split into words so /usr/bin/time can run it
cli() { "${CLI[@]}" "$@"; }

TIME_BIN=""
[[ -x /usr/bin/time ]] && TIME_BIN=/usr/bin/time

# once NAME CMD...: run CMD once; append its wall seconds to $times/NAME and its peak RSS (KiB) to $times/NAME.rss.
# stdout goes to $logs/NAME.out, stderr to $logs/NAME.err; a failure stops the bench with the error shown.
once() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if [[ -n $TIME_BIN ]]; then
    "$TIME_BIN" -f %M -o "$times/$name.rss1" "$@" > "$logs/$name.out" 2> "$logs/$name.err" \
      || { echo "bench: '$*' failed:" >&2; tail -n 5 "$logs/$name.err" >&2; exit 1; }
    tail -n 1 "$times/$name.rss1" >> "$times/$name.rss"
  else
    "$@" > "$logs/$name.out" 2> "$logs/$name.err" || { echo "bench: '$*' failed:" >&2; tail -n 5 "$logs/$name.err" >&2; exit 1; }
  fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }' >> "$times/$name"
}

# stats NAME: "median min max n" of $times/NAME (seconds).
stats() {
  sort -g "$times/$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f %.4f %.4f %d\n", m, v[1], v[NR], NR }'
}
median() { stats "$1" | cut -d' ' -f1; }
# row NAME LABEL: a markdown table row with median, min-max, runs and peak RSS.
row() {
  local s rss="n/a"
  read -r med lo hi n <<< "$(stats "$1")"
  [[ -s $times/$1.rss ]] && rss="$(sort -g "$times/$1.rss" | tail -n 1 | awk '{ printf "%.0f MiB", $1 / 1024 }')"
  printf '| %s | %.3f s | %.3f–%.3f s | %d | %s |\n' "$2" "$med" "$lo" "$hi" "$n" "$rss"
}
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.3g", a / b }'; }
# Ratio range from the extremes: min(a)/max(b) .. max(a)/min(b), a pessimistic spread for a ratio of noisy medians.
ratio_range() {
  read -r _ alo ahi _ <<< "$(stats "$1")"; read -r _ blo bhi _ <<< "$(stats "$2")"
  awk -v alo="$alo" -v ahi="$ahi" -v blo="$blo" -v bhi="$bhi" 'BEGIN { printf "%.3g–%.3g", alo / bhi, ahi / blo }'
}
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

report=$work/results.body.md
: > "$report"
emit() { printf '%s\n' "$*" >> "$report"; }
load_start=$(load)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)

say "process start baseline: '$ONNXSTEER --version'"
cli --version > /dev/null

# ---------------------------------------------------------------- B1: patch cost (external data)
if ! skip b1; then
  b1=$work/b1-L${B1_LAYERS}-H${B1_HIDDEN}-I${B1_INTER}-V${B1_VOCAB}-fp16
  if [[ ! -f $b1/model/model.onnx.data ]]; then
    say "B1: synth llama fp16 ($B1_LAYERS layers, hidden $B1_HIDDEN, intermediate $B1_INTER, vocab $B1_VOCAB) -> $b1/model"
    rm -rf "$b1"
    cli synth llama -o "$b1/model" --layers "$B1_LAYERS" --hidden "$B1_HIDDEN" --intermediate "$B1_INTER" \
      --heads "$B1_HEADS" --vocab "$B1_VOCAB" --dtype fp16 --style genai
  fi
  if [[ ! -f $b1/profile.json ]]; then
    say "B1: profile (2 pairs, to get a profile with every site's counts; not timed)"
    printf '%s\n' '{"prompt": "The weather today is", "positive": " sunny", "negative": " rainy"}' \
                  '{"prompt": "She opened the box and felt", "positive": " glad", "negative": " sad"}' > "$b1/pairs.jsonl"
    cli profile "$b1/model" --pairs "$b1/pairs.jsonl" --k 100 --alpha 2 --max-tokens 32 -q -o "$b1/profile.json"
  fi
  say "B1: $RUNS rounds of: cp model.onnx, read data once, process start, patch k=100, patch every unit"
  for ((i = 0; i < RUNS; i++)); do
    rm -rf "$b1/out-k100" "$b1/out-all" "$b1/copy.onnx"
    once b1_cp cp "$b1/model/model.onnx" "$b1/copy.onnx"
    once b1_read dd if="$b1/model/model.onnx.data" of=/dev/null bs=4M status=none
    once start "${CLI[@]}" --version
    once b1_patch_k100 "${CLI[@]}" patch "$b1/model" "$b1/profile.json" --k 100 -o "$b1/out-k100"
    once b1_patch_all "${CLI[@]}" patch "$b1/model" "$b1/profile.json" --k 100000000 --sites attn,mlp -o "$b1/out-all"
  done
  all_units=$(grep -o 'steered [0-9]* unit(s) at [0-9]* site(s)' "$logs/b1_patch_all.out" | head -n 1)
  k100_units=$(grep -o 'steered [0-9]* unit(s) at [0-9]* site(s)' "$logs/b1_patch_k100.out" | head -n 1)
  startup=$(median start)
  emit "## B1 — patch cost is the graph's, not the weights' (scaled down)"
  emit ""
  emit "Model: \`synth llama --layers $B1_LAYERS --hidden $B1_HIDDEN --intermediate $B1_INTER --heads $B1_HEADS --vocab $B1_VOCAB --dtype fp16 --style genai\`:"
  emit "model.onnx $(mib "$b1/model/model.onnx"), model.onnx.data $(mib "$b1/model/model.onnx.data"). The issue asks for 32×4096×11008 (~7 GB);"
  emit "this is scaled down to fit the session (time and a 2-core machine shared by other agents)."
  emit "Patches: k=100 ($k100_units); every unit of every attn and mlp site ($all_units)."
  emit "The data file is hard-linked by \`patch\`, never rewritten. Page cache: warm (nothing dropped; the data file was"
  emit "just written by \`synth\` and read by each round), so (b) is a memory-speed read, the cheapest (b) can be."
  emit ""
  emit "| what | median | min–max | runs | peak RSS |"
  emit "|---|---|---|---|---|"
  emit "$(row b1_cp '(a) `cp model.onnx` (graph file alone)')"
  emit "$(row b1_read '(b) read model.onnx.data once (`dd bs=4M`, warm cache)')"
  emit "$(row start "process start: \`onnxsteer --version\` (.NET start + CLI parse)")"
  emit "$(row b1_patch_k100 '`patch` k=100')"
  emit "$(row b1_patch_all '`patch` every unit (attn+mlp)')"
  emit ""
  emit "| ratio | median (range) | target |"
  emit "|---|---|---|"
  emit "| patch k=100 / (a) | $(ratio b1_patch_k100 b1_cp) ($(ratio_range b1_patch_k100 b1_cp)) | ≤ 3 |"
  emit "| patch every unit / (a) | $(ratio b1_patch_all b1_cp) ($(ratio_range b1_patch_all b1_cp)) | ≤ 3 |"
  emit "| patch k=100 / (b) | $(ratio b1_patch_k100 b1_read) ($(ratio_range b1_patch_k100 b1_read)) | ≤ 0.01 |"
  emit "| patch every unit / (b) | $(ratio b1_patch_all b1_read) ($(ratio_range b1_patch_all b1_read)) | ≤ 0.01 |"
  emit "| (patch k=100 − process start) median | $(awk -v a="$(median b1_patch_k100)" -v s="$startup" 'BEGIN { printf "%.3f s", a - s }') | |"
  emit "| (patch every unit − process start) median | $(awk -v a="$(median b1_patch_all)" -v s="$startup" 'BEGIN { printf "%.3f s", a - s }') | |"
  graph_kib=$(( $(stat -c %s "$b1/model/model.onnx") / 1024 ))
  emit "| peak RSS limit: 2 × graph file + 64 MiB | $(( (2 * graph_kib + 65536) / 1024 )) MiB | |"
  emit ""
fi

# ---------------------------------------------------------------- B1 inline: the whole file must be rewritten
if ! skip b1inline && ! skip b1; then
  inl=$b1/inline
  if [[ ! -f $inl/model.onnx ]]; then
    say "B1 inline: repack to one inline file"
    mkdir -p "$inl"
    cli repack "$b1/model" --inline -o "$inl/model.onnx" > /dev/null
  fi
  say "B1 inline: $INLINE_RUNS rounds of: cp model.onnx (whole file), patch k=100"
  for ((i = 0; i < INLINE_RUNS; i++)); do
    rm -rf "$b1/inline-copy.onnx" "$b1/inline-out"
    once b1i_cp cp "$inl/model.onnx" "$b1/inline-copy.onnx"
    rm -f "$b1/inline-copy.onnx"
    once b1i_patch "${CLI[@]}" patch "$inl/model.onnx" "$b1/profile.json" --k 100 --force -o "$b1/inline-out"
    rm -rf "$b1/inline-out"
  done
  emit "### B1, inline weights: the whole file is rewritten"
  emit ""
  emit "Same model repacked inline (\`repack --inline\`): model.onnx $(mib "$inl/model.onnx"). \`--force\`: the profile was recorded on the external-data copy."
  emit ""
  emit "| what | median | min–max | runs | peak RSS |"
  emit "|---|---|---|---|---|"
  emit "$(row b1i_cp '`cp model.onnx` (whole inline file)')"
  emit "$(row b1i_patch '`patch` k=100 (inline)')"
  emit ""
  emit "patch / cp: **$(ratio b1i_patch b1i_cp)** (range $(ratio_range b1i_patch b1i_cp)); target ≤ 1.5."
  emit ""
fi

# ---------------------------------------------------------------- B3: steered inference overhead
if ! skip b3; then
  b3=$work/b3-L${B3_LAYERS}-H${B3_HIDDEN}-I${B3_INTER}-V${B3_VOCAB}-fp32
  if [[ ! -f $b3/model/model.onnx.data ]]; then
    say "B3: synth llama fp32 ($B3_LAYERS layers, hidden $B3_HIDDEN, intermediate $B3_INTER, vocab $B3_VOCAB) -> $b3/model"
    rm -rf "$b3"
    cli synth llama -o "$b3/model" --layers "$B3_LAYERS" --hidden "$B3_HIDDEN" --intermediate "$B3_INTER" \
      --heads "$B3_HEADS" --vocab "$B3_VOCAB" --dtype fp32 --style genai
  fi
  if [[ ! -f $b3/profile.json ]]; then
    say "B3: profile on 16 pairs"
    : > "$b3/pairs.jsonl"
    for n in Ann Bob Cid Dee Eve Fay Gus Hal; do
      printf '{"prompt": "%s looked at the sky and said it was", "positive": " bright", "negative": " dark"}\n' "$n" >> "$b3/pairs.jsonl"
      printf '{"prompt": "After the game %s felt", "positive": " happy", "negative": " sad"}\n' "$n" >> "$b3/pairs.jsonl"
    done
    cli profile "$b3/model" --pairs "$b3/pairs.jsonl" --k 100 --alpha 2 -q -o "$b3/profile.json"
  fi
  for v in mul fold all; do rm -rf "${b3:?}/$v"; done
  cli patch "$b3/model" "$b3/profile.json" --k 100 -o "$b3/mul" > "$logs/b3_patch_mul.out"
  cli patch "$b3/model" "$b3/profile.json" --k 100 --fold -o "$b3/fold" > "$logs/b3_patch_fold.out"
  cli patch "$b3/model" "$b3/profile.json" --k 100000000 --sites attn,mlp -o "$b3/all" > "$logs/b3_patch_all.out"
  # ~128 prompt tokens (the synthetic tokenizer is byte-level with a few merges: the count is printed below).
  prompt="Once upon a time, in a quiet town by the sea, there lived an old sailor who told stories to the children every evening."
  variants=(model mul all fold)
  say "B3: $RUNS rounds of generate (1 and $NEW_TOKENS new tokens) on vanilla, Mul k=100, Mul every unit, folded k=100"
  for ((i = 0; i < RUNS; i++)); do
    for v in "${variants[@]}"; do
      once "b3_${v}_1" "${CLI[@]}" generate "$b3/$v" --prompt "$prompt" --max-new-tokens 1 --json
      once "b3_${v}_n" "${CLI[@]}" generate "$b3/$v" --prompt "$prompt" --max-new-tokens "$NEW_TOKENS" --json
    done
  done
  # ids_count FILE KEY: how many ids the (indented) --json output holds under KEY.
  ids_count() { tr -d ' \n\r' < "$1" | grep -o "\"$2\":\[[^]]*\]" | head -n 1 | sed 's/^[^[]*//' | grep -o '[0-9][0-9]*' | wc -l; }
  prompt_tokens=$(ids_count "$logs/b3_model_n.out" prompt_ids)
  emit "## B3 — steered inference overhead (whole process)"
  emit ""
  emit "Model: \`synth llama --layers $B3_LAYERS --hidden $B3_HIDDEN --intermediate $B3_INTER --heads $B3_HEADS --vocab $B3_VOCAB --dtype fp32 --style genai\`"
  emit "(model.onnx.data $(mib "$b3/model/model.onnx.data")); profile from 16 pairs. Variants: vanilla; Mul-patched k=100"
  emit "($(grep -o 'steered [0-9]* unit(s) at [0-9]* site(s)' "$logs/b3_patch_mul.out")); Mul-patched every unit of every attn and mlp site"
  emit "($(grep -o 'steered [0-9]* unit(s) at [0-9]* site(s)' "$logs/b3_patch_all.out")); folded k=100. Greedy \`generate --json\`, same prompt"
  emit "(${prompt_tokens} prompt tokens)."
  emit "Each run is a whole process (start, model load, tokenize, prefill, decode): \"load+prefill\" is \`--max-new-tokens 1\`;"
  emit "decode per token is (median(N) − median(1)) / (N − 1) with N = $NEW_TOKENS."
  emit ""
  emit "| variant | load+prefill median (min–max) | N=$NEW_TOKENS median (min–max) | new tokens | decode ms/token | peak RSS (N) |"
  emit "|---|---|---|---|---|---|"
  for v in "${variants[@]}"; do
    read -r m1 l1 h1 _ <<< "$(stats "b3_${v}_1")"
    read -r mn ln hn _ <<< "$(stats "b3_${v}_n")"
    toks=$(ids_count "$logs/b3_${v}_n.out" generated_ids)
    rss=$(sort -g "$times/b3_${v}_n.rss" 2> /dev/null | tail -n 1 | awk '{ printf "%.0f MiB", $1 / 1024 }')
    per=$(awk -v a="$mn" -v b="$m1" -v n="$NEW_TOKENS" 'BEGIN { printf "%.1f", (a - b) / (n - 1) * 1000 }')
    label=$v; [[ $v == model ]] && label=vanilla; [[ $v == mul ]] && label="Mul k=100"; [[ $v == all ]] && label="Mul every unit"; [[ $v == fold ]] && label="folded k=100"
    emit "| $label | $(printf '%.3f s (%.3f–%.3f)' "$m1" "$l1" "$h1") | $(printf '%.3f s (%.3f–%.3f)' "$mn" "$ln" "$hn") | $toks | $per | ${rss:-n/a} |"
  done
  emit ""
  emit "| ratio to vanilla (median, range) | load+prefill | N=$NEW_TOKENS | target |"
  emit "|---|---|---|---|"
  emit "| Mul k=100 | $(ratio b3_mul_1 b3_model_1) ($(ratio_range b3_mul_1 b3_model_1)) | $(ratio b3_mul_n b3_model_n) ($(ratio_range b3_mul_n b3_model_n)) | ≤ 1.02 |"
  emit "| Mul every unit | $(ratio b3_all_1 b3_model_1) ($(ratio_range b3_all_1 b3_model_1)) | $(ratio b3_all_n b3_model_n) ($(ratio_range b3_all_n b3_model_n)) | (reported) |"
  emit "| folded k=100 | $(ratio b3_fold_1 b3_model_1) ($(ratio_range b3_fold_1 b3_model_1)) | $(ratio b3_fold_n b3_model_n) ($(ratio_range b3_fold_n b3_model_n)) | 1.00 within noise |"
  emit ""
fi

load_end=$(load)
{
  echo "<!-- generated by bench/run.sh ($started); hand-written notes live in bench/results.md below the figures -->"
  echo "## Machine"
  echo ""
  echo "- $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); memory $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- $(uname -sr); $(dotnet --version 2> /dev/null | sed 's/^/.NET SDK /'); ONNX Runtime CPU (runtimes/linux-x64)"
  echo "- load average (1, 5, 15 min) at start: $load_start; at end: $load_end. **The machine was shared with other agents"
  echo "  building and testing at the same time**, so absolute times are inflated and noisy; contenders ran round-robin"
  echo "  ($RUNS rounds) so that drift affects them alike. Ratios are of medians; ranges are min(a)/max(b)–max(a)/min(b)."
  echo "- started $started"
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
