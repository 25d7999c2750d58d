#!/usr/bin/env bash
# `make fuzz`: the reader fuzzer (tests/OnnxSteer.Tests/Hardening/ReaderFuzzer.cs) with a long budget.
# ONNXSTEER_FUZZ_ITERATIONS (default 20000) and ONNXSTEER_FUZZ_SEED pick the inputs; failing inputs are kept in
# ONNXSTEER_FUZZ_OUT (default artifacts/fuzz-failures) with their seed in the file name, so each one reproduces.
# ONNXSTEER_FUZZ_PROGRESS (default artifacts/fuzz-progress.log) gets a line every 1000 inputs.
# The first argument (the CLI command line, passed by the Makefile) is not needed: the fuzzer calls the library.
set -euo pipefail
cd "$(dirname "$0")/../.."
export ONNXSTEER_FUZZ_ITERATIONS=${ONNXSTEER_FUZZ_ITERATIONS:-20000}
export ONNXSTEER_FUZZ_OUT=${ONNXSTEER_FUZZ_OUT:-$PWD/artifacts/fuzz-failures}
export ONNXSTEER_FUZZ_PROGRESS=${ONNXSTEER_FUZZ_PROGRESS:-$PWD/artifacts/fuzz-progress.log}
mkdir -p "$(dirname "$ONNXSTEER_FUZZ_PROGRESS")"
echo "fuzz: $ONNXSTEER_FUZZ_ITERATIONS inputs, failing inputs go to $ONNXSTEER_FUZZ_OUT"
dotnet test OnnxSteer.sln -c "${CONFIG:-Release}" --no-build --nologo \
  --filter "FullyQualifiedName~OnnxSteer.Tests.Hardening.ReaderFuzzTests" \
  --logger "console;verbosity=detailed"
