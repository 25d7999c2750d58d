#!/usr/bin/env bash
# SIGTERM under load, repeated (issue 35): starts `onnxsteer serve MODEL`, opens CLIENTS streaming completions of
# TOKENS tokens each, sends SIGTERM DELAY seconds after the last of them started streaming, and checks that the server exits 0, that every
# stream ends with `data: [DONE]` (after its finish chunk or the server's error event) — or, for a request the server
# had not started when the signal came, is a 503 error object — and that the log holds no crash or 500. Prints one line per run and a count; exits non-zero unless every run passed.
#
# Usage: bench/serve-sigterm.sh "ONNXSTEER" MODEL_DIR [RUNS]
# Knobs (environment): SIGTERM_CLIENTS=8, SIGTERM_TOKENS=900, SIGTERM_DELAY=2, SIGTERM_SHUTDOWN=2 (--shutdown-timeout:
# shorter than the requests, so they are cut), SIGTERM_SERVE_ARGS (replaces the admission/shutdown flags, e.g. for
# a build that predates them).
set -uo pipefail
read -ra CLI <<< "${1:?usage: serve-sigterm.sh ONNXSTEER MODEL_DIR [RUNS]}"
model=${2:?model folder}
runs=${3:-20}
clients=${SIGTERM_CLIENTS:-8}
tokens=${SIGTERM_TOKENS:-900}
delay=${SIGTERM_DELAY:-2}
read -ra extra <<< "${SIGTERM_SERVE_ARGS---max-concurrent $clients --shutdown-timeout ${SIGTERM_SHUTDOWN:-2}}"
id=$(basename "$model")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
for run in $(seq 1 "$runs"); do
  log=$work/server.$run.log
  "${CLI[@]}" serve "$model" --port 0 --max-tokens-limit "$tokens" "${extra[@]}" 2> "$log" &
  server=$!
  url=""
  for _ in $(seq 1 600); do
    url=$(grep -o 'listening on http://[^ ]*' "$log" | head -1 | sed 's/listening on //')
    [[ -n $url ]] && break
    kill -0 $server 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $url ]]; then echo "run $run: the server did not start"; cat "$log"; kill $server 2>/dev/null; continue; fi
  body="{\"model\": \"$id\", \"prompt\": \"Once upon a time\", \"max_tokens\": $tokens, \"temperature\": 0, \"stream\": true}"
  curls=()
  for c in $(seq 1 "$clients"); do
    curl -sN --max-time 300 "${url}v1/completions" -H 'Content-Type: application/json' -d "$body" > "$work/stream.$run.$c" 2>/dev/null &
    curls+=($!)
  done
  # Every stream under way (its first chunk came), then DELAY more seconds of generation, then the signal.
  for _ in $(seq 1 1200); do
    started=0
    for c in $(seq 1 "$clients"); do [[ -s $work/stream.$run.$c ]] && started=$((started + 1)); done
    (( started == clients )) && break
    sleep 0.1
  done
  sleep "$delay"
  kill -TERM $server
  wait $server; code=$?
  for p in "${curls[@]}"; do wait "$p"; done
  done_streams=0; cut=0; refused=0
  for c in $(seq 1 "$clients"); do
    out=$work/stream.$run.$c
    if tail -c 14 "$out" | grep -q '^data: \[DONE\]$'; then
      done_streams=$((done_streams + 1))
      grep -q '"code":"server_stopping"' "$out" && cut=$((cut + 1))
    elif grep -q '^{"error":{.*"code":"server_stopping"}}$' "$out"; then
      refused=$((refused + 1))
    fi
  done
  bad=$(grep -ciE 'exception|segmentation|fault| 500 |did not stop|this is a bug' "$log")
  if [[ $code == 0 && $((done_streams + refused)) == "$clients" && $bad == 0 ]]; then
    passed=$((passed + 1)); verdict=ok
  else
    verdict=FAILED
  fi
  echo "run $run: exit $code, $done_streams/$clients streams ended with [DONE] ($cut of them cut by the stop), $refused refused with 503 before they started, $bad bad log lines: $verdict"
  if [[ $verdict == FAILED ]]; then
    grep -iE 'exception|segmentation|fault| 500 |did not stop|this is a bug' "$log" | head -3
    kept=${SIGTERM_KEEP:-bench/work/serve-sigterm-failed}/run-$run; mkdir -p "$kept"; cp "$work"/*."$run"* "$kept"/ && echo "  kept in $kept"
  fi
done
echo "sigterm: $passed of $runs runs passed ($clients streams of $tokens tokens, SIGTERM after ${delay} s, model $id)"
[[ $passed == "$runs" ]]
