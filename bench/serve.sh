#!/usr/bin/env bash
# make bench-serve: `onnxsteer serve` under load on loopback (issue 22). Imports stories260K into bench/work/ (once),
# then bench/OnnxSteer.Bench `serve` starts the server as its own process, drives it with 1, 4, 16 and 64 concurrent
# clients and compares with the same requests run one at a time in-process; a dated section is appended to
# bench/results.md. Exits non-zero when a request failed or an answer differed from the in-process one.
#
# Knobs (environment): BENCH_SERVE_REQUESTS=48 requests per pass; BENCH_SERVE_ROUNDS=3 rounds; BENCH_SERVE_TOKENS=32 max_tokens;
# BENCH_SERVE_CLIENTS=1,4,16,64 client counts (also the genai batch sizes probed); BENCH_SERVE_MODEL=stories260K, or
# synth-100m (a ~100M-parameter Llama from `onnxsteer synth llama`, written once into bench/work/); BENCH_OUT=bench/results.md.
set -euo pipefail
ONNXSTEER=${1:-"dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"}
cd "$(dirname "$0")/.."
REQUESTS=${BENCH_SERVE_REQUESTS:-48}
TOKENS=${BENCH_SERVE_TOKENS:-32}
ROUNDS=${BENCH_SERVE_ROUNDS:-3}
OUT=${BENCH_OUT:-bench/results.md}
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
{ echo; cat "$body"; } >> "$OUT"
echo "appended to $OUT" >&2
exit $status
