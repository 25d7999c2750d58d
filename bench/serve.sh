#!/usr/bin/env bash
# make bench-serve: `onnxsteer serve` under load on loopback (issue 22). Imports stories260K into bench/work/ (once),
# then bench/OnnxSteer.Bench `serve` starts the server as its own process, drives it with 1, 4, 16 and 64 concurrent
# clients and compares with the same requests run one at a time in-process; a dated section is appended to
# bench/results.md. Exits non-zero when a request failed or an answer differed from the in-process one.
#
# Knobs (environment): BENCH_SERVE_REQUESTS=48 requests per pass; BENCH_SERVE_ROUNDS=3 rounds; BENCH_SERVE_TOKENS=32 max_tokens;
# BENCH_SERVE_CLIENTS=1,4,16,64 client counts (also the genai batch sizes probed); BENCH_SERVE_MODEL=stories260K, or
# synth-100m (a ~100M-parameter Llama from `onnxsteer synth llama`, written once into bench/work/);
# BENCH_OUT=bench/results.md; BENCH_SERVE_MEM_CLIENTS=32 and BENCH_SERVE_MEM_PROMPT=1000 (the memory burst);
# BENCH_SERVE_SIGTERM_RUNS=20 (0 skips the SIGTERM runs).
set -euo pipefail
ONNXSTEER=${1:-"dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"}
cd "$(dirname "$0")/.."
REQUESTS=${BENCH_SERVE_REQUESTS:-48}
TOKENS=${BENCH_SERVE_TOKENS:-32}
ROUNDS=${BENCH_SERVE_ROUNDS:-3}
OUT=${BENCH_OUT:-bench/results.md}
MEM_CLIENTS=${BENCH_SERVE_MEM_CLIENTS:-32}
MEM_PROMPT=${BENCH_SERVE_MEM_PROMPT:-1000}
SIGTERM_RUNS=${BENCH_SERVE_SIGTERM_RUNS:-20}
work=bench/work
shared=${ONNXSTEER_SHARED:-../shared}
mkdir -p "$work"
read -ra CLI <<< "$ONNXSTEER"

CLIENTS=${BENCH_SERVE_CLIENTS:-1,4,16,64}
case ${BENCH_SERVE_MODEL:-stories260K} in
  stories260K)
    model=$work/serve-stories260K
    if [[ ! -f $model/genai_config.json ]]; then
      "${CLI[@]}" import llama2c "$shared/models/stories260K/stories260K.bin" --tokenizer "$shared/models/stories260K/tok512.bin" -o "$model" > /dev/null
    fi ;;
  synth-100m)
    # 12 layers, width 768, MLP 2048, 12 heads of 64, vocabulary 8192: 85M in the layers + 2 x 6.3M embeddings = ~98M.
    model=$work/serve-synth-100m
    if [[ ! -f $model/genai_config.json ]]; then
      "${CLI[@]}" synth llama -o "$model" --layers 12 --hidden 768 --intermediate 2048 --heads 12 --vocab 8192 --context 1024 > /dev/null
    fi ;;
  *) echo "BENCH_SERVE_MODEL: stories260K or synth-100m" >&2; exit 2 ;;
esac
dotnet build bench/OnnxSteer.Bench -c Release -v:q --nologo > "$work/bench-serve-build.log" 2>&1 || { tail -n 20 "$work/bench-serve-build.log"; exit 1; }
body=$work/serve.body.md
: > "$body"
status=0
dotnet bench/OnnxSteer.Bench/bin/Release/net10.0/OnnxSteer.Bench.dll serve "$ONNXSTEER" "$(realpath "$model")" "$work" "$REQUESTS" "$TOKENS" "$ROUNDS" "$CLIENTS" --report "$body" || status=$?

# Memory under a burst of long prompts (issue 35): a synthetic model whose 32 000-word vocabulary makes the prefill's
# logits the bulk of a request's memory (1 000 × 32 000 × 4 B = 128 MB per prompt in one piece); the default admission
# bound against all 32 at once.
logits=$work/serve-synth-v32k
if [[ ! -f $logits/genai_config.json ]]; then
  "${CLI[@]}" synth llama -o "$logits" --layers 2 --hidden 64 --intermediate 128 --heads 4 --vocab 32000 --context 2048 > /dev/null
fi
dotnet bench/OnnxSteer.Bench/bin/Release/net10.0/OnnxSteer.Bench.dll serve-memory "$ONNXSTEER" "$(realpath "$logits")" "$MEM_CLIENTS" "$MEM_PROMPT" \
  --report "$body" "default bound=--queue-timeout 600" "all at once=--max-concurrent $MEM_CLIENTS --queue-timeout 600" || status=$?

# SIGTERM with long requests in flight, repeated (issue 35): 8 streams of 900 tokens on an 8-layer 768-wide model.
if (( SIGTERM_RUNS > 0 )); then
  wide=$work/serve-synth-8x768
  if [[ ! -f $wide/genai_config.json ]]; then
    "${CLI[@]}" synth llama -o "$wide" --layers 8 --hidden 768 --intermediate 2048 --heads 12 --vocab 32000 --context 2048 > /dev/null
  fi
  verdict=$(bash bench/serve-sigterm.sh "$ONNXSTEER" "$wide" "$SIGTERM_RUNS" | tee /dev/stderr | tail -n 1) || status=1
  { echo "## Serve — SIGTERM under load ($(date -u '+%Y-%m-%d %H:%M') UTC)"; echo; echo "bench/serve-sigterm.sh: $verdict."; echo; } >> "$body"
fi
{ echo; cat "$body"; } >> "$OUT"
echo "appended to $OUT" >&2
exit $status
