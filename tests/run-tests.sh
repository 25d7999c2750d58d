#!/usr/bin/env bash
# Runs the xunit suite and ends with the plain "N passed, N failed, N skipped" line CI reads.
set -uo pipefail
config=${1:-Release}
cd "$(dirname "$0")/.."
results=$(mktemp -d)
dotnet test OnnxSteer.sln -c "$config" --no-build --nologo \
  --logger "trx;LogFileName=results.trx" --results-directory "$results" \
  --logger "console;verbosity=normal" 2>&1 | tee "$results/console.log"
status=${PIPESTATUS[0]}
trx=$(find "$results" -name '*.trx' | head -1)
if [[ -n "$trx" ]]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
  skipped=$(( total - executed ))
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
  if [[ "${passed:-0}" == 0 ]]; then echo "no test ran" >&2; status=1; fi
else
  echo "no test results were written" >&2; status=1
fi
rm -rf "$results"
exit $status
