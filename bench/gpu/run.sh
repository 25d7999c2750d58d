#!/usr/bin/env bash
# Issue 20's checks 1-4 on one host, from a bundle made by bench/gpu/pack.sh (no .NET needed) or a local build.
#
# usage: bench/gpu/run.sh APP_DIR STORIES_DIR OUT_DIR
#   APP_DIR      the bundle's app/ (onnxsteer CLI and OnnxSteer.Bench, self-contained) — or, on a machine with .NET,
#                a folder where `OnnxSteer.Cli` and `OnnxSteer.Bench` run (pack.sh's publish)
#   STORIES_DIR  stories260K.bin and tok512.bin
#   OUT_DIR      gets gpu.md (the report: every figure, the environment, the timings), tokens.jsonl, timings.tsv and
#                logs.tar.gz (every step's log); four files, as a device call brings back at most eight
# environment:
#   DEVICE=cuda              the device under test (cpu for the rehearsal: every check then compares CPU with CPU)
#   SHAPE="--layers 16 --hidden 2048 --intermediate 5632 --heads 16 --vocab 32000"   the synthetic Llama (fp16, genai)
#   ROUNDS=10 NEW_TOKENS=32 PROMPT_TOKENS=512   check 3 (interleaved rounds, decode length, prefill length)
#   B2_PASSES=1 B2_BATCHES="8 32"               check 4
#   EXPECTED=bench/gpu/expected-tokens.jsonl     tokens of the rehearsal, compared with this run's (report only)
#   SKIP="..."               checks to leave out: 1 2 3 4
# Exit status: non-zero when check 1 or 2 fails (the timings of 3 and 4 are reported, never judged here).
set -uo pipefail
APP=$(realpath "$1"); STORIES=$(realpath "$2"); OUT=$(realpath -m "$3")
here=$(cd "$(dirname "$0")" && pwd)
DEVICE=${DEVICE:-cuda}
SHAPE=${SHAPE:---layers 16 --hidden 2048 --intermediate 5632 --heads 16 --vocab 32000}
ROUNDS=${ROUNDS:-10}; NEW_TOKENS=${NEW_TOKENS:-32}; PROMPT_TOKENS=${PROMPT_TOKENS:-512}
B2_PASSES=${B2_PASSES:-1}; B2_BATCHES=${B2_BATCHES:-8 32}
EXPECTED=${EXPECTED:-$here/expected-tokens.jsonl}
SKIP=" ${SKIP:-} "
mkdir -p "$OUT"
logs=$OUT/logs   # step logs and report fragments: packed into logs.tar.gz at the end (a call brings back 8 files)
mkdir -p "$logs"
work=$OUT/work   # models; deleted at the end (only logs come back)
mkdir -p "$work"
status=0
t0=$EPOCHREALTIME
printf 'step\tseconds\n' > "$OUT/timings.tsv"
# step NAME CMD...: run, log to OUT/NAME.log, time it.
step() {
  local name=$1; shift
  local started=$EPOCHREALTIME
  printf '== %s: %s\n' "$name" "$*" >&2
  "$@" > "$logs/$name.log" 2>&1; local rc=$?
  local secs=$(awk "BEGIN { print $EPOCHREALTIME - $started }")
  printf '%s\t%.1f\n' "$name" "$secs" >> "$OUT/timings.tsv"
  printf '   %s: exit %d, %.1f s\n' "$name" "$rc" "$secs" >&2
  [[ $rc == 0 ]] || tail -n 15 "$logs/$name.log" >&2
  return $rc
}
skip() { [[ $SKIP == *" $1 "* ]]; }

# The executables: the apphosts of a self-contained publish, else dotnet with the dlls.
if [[ -x $APP/OnnxSteer.Cli ]]; then CLI=("$APP/OnnxSteer.Cli"); BENCH=("$APP/OnnxSteer.Bench")
else CLI=(dotnet "$APP/OnnxSteer.Cli.dll"); BENCH=(dotnet "$APP/OnnxSteer.Bench.dll"); fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_gcServer=0

# CUDA 13 runtime libraries from wherever the host has them (a toolkit, or the nvidia-* Python wheels).
if [[ $DEVICE != cpu ]]; then
  libdirs=$(find /usr/local/cuda*/lib64 /usr/lib/x86_64-linux-gnu /opt /usr/local/lib /usr/lib/python3* \
              \( -name 'libcudart.so.13*' -o -name 'libcublas.so.13*' -o -name 'libcublasLt.so.13*' -o -name 'libcurand.so.10*' -o -name 'libcudnn.so.9*' \) \
              -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
  export LD_LIBRARY_PATH=${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm), $(nproc) cores"
  echo "device under test: $DEVICE"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader \
    && nvidia-smi | grep -o 'CUDA Version: [0-9.]*'
  echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
  cat "$APP/../PACKED" 2>/dev/null
} > "$logs/env.txt" 2>&1
cat "$logs/env.txt" >&2

report=$OUT/gpu.md
{
  echo "## CUDA check ($(date -u +%F), device $DEVICE)"
  echo
  echo '```'; cat "$logs/env.txt"; echo '```'
  echo
} > "$report"

# ------------------------------------------------------------------ stories260K fp32/fp16 and their steered copies
stories=$work/stories
prepare_stories() (
  set -e
  for dtype in fp32 fp16; do
    local m=$stories/$dtype
    "${CLI[@]}" import llama2c "$STORIES/stories260K.bin" --tokenizer "$STORIES/tok512.bin" -o "$m/vanilla" --style genai --dtype $dtype --force
    # 24 happy/sad pairs; the profile is computed on the CPU (deterministic), per dtype. Alpha 1 keeps the steered text
    # coherent (alpha 10 collapses it into one repeated token, a weak test of the numerics); switchable@2 doubles it.
    "${CLI[@]}" profile "$m/vanilla" --pairs "$here/stories-pairs.jsonl" -o "$m/profile.json" --k 20 --alpha 1 --sites attn,mlp --quiet --force
    "${CLI[@]}" patch "$m/vanilla" "$m/profile.json" -o "$m/mul"
    "${CLI[@]}" patch "$m/vanilla" "$m/profile.json" -o "$m/folded" --fold
    "${CLI[@]}" patch "$m/vanilla" "$m/profile.json" -o "$m/switchable" --switchable
  done
)

# The synthetic Llama is made while checks 1 and 2 run (it needs only the CPU).
synth_pid=
if ! skip 3 || ! skip 4; then
  ( step synth "${CLI[@]}" synth llama -o "$work/synth" $SHAPE --dtype fp16 --style genai --force ) &
  synth_pid=$!
fi

if ! skip 2 || ! skip 1; then step stories-prepare prepare_stories || status=1; fi

# ------------------------------------------------------------------ check 1
if ! skip 1; then
  step check1-providers "${BENCH[@]}" providers "$stories/fp32/vanilla/model.onnx" --device "$DEVICE" || status=1
  { echo "### Check 1 — the provider loads"; echo; echo '```'; cat "$logs/check1-providers.log"; echo '```'; echo; } >> "$report"
fi

# ------------------------------------------------------------------ check 2
if ! skip 2; then
  specs=()
  for dtype in fp32 fp16; do
    m=$stories/$dtype
    specs+=("$dtype vanilla=$m/vanilla" "$dtype Mul=$m/mul" "$dtype folded=$m/folded"
            "$dtype switchable@0=$m/switchable@0" "$dtype switchable@2=$m/switchable@2")
  done
  step check2-stories "${BENCH[@]}" gpu-check "$OUT/tokens.jsonl" "${specs[@]}" --device "$DEVICE" --report "$logs/check2.md" || status=1
  cat "$logs/check2.md" >> "$report"
  if [[ -f $EXPECTED ]]; then
    # Tokens of this run against the rehearsal's CPU tokens (another machine): equal tokens are expected on the CPU;
    # the device's may differ only where check 2 allows it.
    python3 - "$EXPECTED" "$OUT/tokens.jsonl" >> "$report" 2>&1 <<'PY'
import json, sys
exp = {j['name']: j['tokens'] for j in map(json.loads, open(sys.argv[1])) if j['device'] == 'cpu'}
print('Tokens against the rehearsal\'s CPU tokens (bench/gpu/expected-tokens.jsonl):\n')
print('| model | device | same as rehearsal |'); print('|---|---|---|')
for j in map(json.loads, open(sys.argv[2])):
    e = exp.get(j['name'])
    same = 'no expected tokens' if e is None else 'yes' if e == j['tokens'] else f"no (first difference at token {next(i for i,(a,b) in enumerate(zip(e,j['tokens'])) if a!=b)})"
    print(f"| {j['name']} | {j['device']} | {same} |")
print()
PY
  fi
fi

if [[ -n $synth_pid ]]; then wait "$synth_pid" || { echo "synth failed" >&2; status=1; }; fi

# ------------------------------------------------------------------ check 3
if ! skip 3 && [[ -f $work/synth/model.onnx ]]; then
  step check3-speed "${BENCH[@]}" b3 "$work/b3" "$work/synth" "$work/b3-profile.json" "$ROUNDS" "$NEW_TOKENS" \
    --prompt-tokens "$PROMPT_TOKENS" --device "$DEVICE" --report "$logs/check3.md"
  { echo "### Check 3 — steering cost (synthetic Llama \`$SHAPE\`, fp16, genai style)"; echo; cat "$logs/check3.md"; } >> "$report"
fi

# ------------------------------------------------------------------ check 4
if ! skip 4 && [[ -f $work/synth/model.onnx ]]; then
  echo "### Check 4 — profiling with taps vs the plain model (synthetic Llama \`$SHAPE\`)" >> "$report"; echo >> "$report"
  for b in $B2_BATCHES; do
    step check4-profiling-b$b "${BENCH[@]}" b2 "$work/synth" "batch $b, $DEVICE" "$B2_PASSES" --batch "$b" --device "$DEVICE" --report "$logs/check4-b$b.md"
    cat "$logs/check4-b$b.md" >> "$report"
  done
fi

{ echo "### Time per step (seconds)"; echo; echo '| step | seconds |'; echo '|---|---|'; tail -n +2 "$OUT/timings.tsv" | sed 's/\t/ | /; s/^/| /; s/$/ |/'; echo; } >> "$report"
printf '== total %.0f s; report %s\n' "$(awk "BEGIN { print $EPOCHREALTIME - $t0 }")" "$report" >&2
rm -rf "$work"
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$logs"
exit $status
