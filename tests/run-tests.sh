#!/usr/bin/env bash
# Runs the xunit suite and ends with the plain "N passed, N failed, N skipped" line CI reads, after a list of every
# skipped test with its reason; the closing line repeats the skips grouped by reason. Under CI=true the tests whose
# requirements CI provides (../shared, libonnx-testdata, node + hyllama) are not skipped but fail (see docs/testing.md).
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
  # "name<TAB>reason" for each NotExecuted result: the reason is the first <Message> after its <UnitTestResult>.
  skips=$(awk '
    /<UnitTestResult / { name = ""; skipped = 0
      if (match($0, /testName="[^"]*"/)) name = substr($0, RSTART + 10, RLENGTH - 11)
      if ($0 ~ /outcome="NotExecuted"/) skipped = 1 }
    skipped && /<Message>/ { m = $0; sub(/.*<Message>/, "", m); sub(/<\/Message>.*/, "", m); print name "\t" m; skipped = 0 }
  ' "$trx" | sed 's/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g' | sort)
  reasons=""
  if [[ -n "$skips" ]]; then
    echo "skipped tests (${skipped}):"
    echo "$skips" | awk -F'\t' '{ print "  " $1 " -- " $2 }'
    reasons=$(echo "$skips" | cut -f2 | sed 's/^skipped: //' | sort | uniq -c | sort -rn | awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%d %s", (NR > 1 ? "; " : ""), n, $0 }')
    reasons=" (${reasons})"
  fi
  echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped${reasons}"
  if [[ "${passed:-0}" == 0 ]]; then echo "no test ran" >&2; status=1; fi
else
  echo "no test results were written" >&2; status=1
fi
rm -rf "$results"
exit $status
