#!/usr/bin/env bash
# Pack what a CUDA host without .NET needs for bench/gpu/run.sh: a self-contained linux-x64 publish of the onnxsteer CLI
# and of the bench harness (one folder, so the .NET runtime and OnnxSteer.dll are there once), built against
# Microsoft.ML.OnnxRuntime.Gpu.Linux 1.32.0 (CUDA=1), plus stories260K. The bundle is one xz tarball split into
# pieces small enough for a 64 MiB carry, with SHA-256 sums of each piece and of the whole (see README.md).
#
# usage: bench/gpu/pack.sh [OUT_DIR]        (default bench/gpu/pack, git-ignored)
# environment:
#   KEEP_SM=90        zero the provider's GPU code for every other architecture first (strip-fatbin.py; the file keeps
#                     its size and layout, the tarball shrinks by ~100 MiB). KEEP_SM= (empty) ships it whole.
#   PIECE_MIB=57      piece size: a carry is 64 MiB including the tracked working tree (~3 MiB) and the sums
#   COMPRESS="xz -6 -T0"    the compressor (the host decompresses with xz, or python3's lzma when xz is absent)
#   STORIES=../shared/models/stories260K   folder with stories260K.bin and tok512.bin
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
out=$(realpath -m "${1:-bench/gpu/pack}")
KEEP_SM=${KEEP_SM-90}
PIECE_MIB=${PIECE_MIB:-57}
COMPRESS=${COMPRESS:-xz -6 -T0}
STORIES=${STORIES:-../shared/models/stories260K}
stage=$(mktemp -d /tmp/onnxsteer-gpu-pack.XXXXXX)
trap 'rm -rf "$stage"' EXIT
t0=$(date +%s)
say() { printf '== [%ss] %s\n' $(( $(date +%s) - t0 )) "$*" >&2; }

# A copy of the working tree (tracked and untracked, not ignored): the CUDA restore must not touch this checkout's obj/.
say "copying the working tree to $stage/src"
mkdir -p "$stage/src"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$stage/src"

app=$stage/bundle/app
for project in src/OnnxSteer.Cli/OnnxSteer.Cli.csproj bench/OnnxSteer.Bench/OnnxSteer.Bench.csproj; do
  say "dotnet publish $project (linux-x64, self-contained, CUDA=1)"
  dotnet publish "$stage/src/$project" -c Release -r linux-x64 --self-contained -p:OnnxSteerCuda=true -p:PackAsTool=false \
    -p:PublishReadyToRun=false -o "$app" --nologo -v:q > "$stage/publish.log" 2>&1 || { tail -n 30 "$stage/publish.log"; exit 1; }
done
# Microsoft.ML.OnnxRuntimeGenAI (the CLI's genai engine) depends on the CPU package, whose libonnxruntime.so has the same
# name as the CUDA package's: a RID-specific publish may keep either. Put the CUDA package's natives in place, from the
# NuGet cache (the publish just restored them), and drop the Windows natives the genai package copies anyway and the
# TensorRT stub the check never loads.
gpu_natives=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')microsoft.ml.onnxruntime.gpu.linux/1.32.0/runtimes/linux-x64/native
cp "$gpu_natives"/libonnxruntime.so "$gpu_natives"/libonnxruntime_providers_shared.so "$gpu_natives"/libonnxruntime_providers_cuda.so "$app/"
rm -f "$app/libonnxruntime_providers_tensorrt.so" "$app"/onnxruntime*.dll "$app"/*.dylib
for lib in libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  [[ -f $app/$lib ]] || { echo "pack: $app/$lib is missing: not the CUDA natives?" >&2; exit 1; }
done
if [[ -n $KEEP_SM ]]; then
  say "stripping GPU code of architectures other than sm_$KEEP_SM"
  python3 bench/gpu/strip-fatbin.py "$app/libonnxruntime_providers_cuda.so" "$stage/cuda.so" $KEEP_SM
  mv "$stage/cuda.so" "$app/libonnxruntime_providers_cuda.so"
fi
mkdir -p "$stage/bundle/stories260K"
cp "$STORIES/stories260K.bin" "$STORIES/tok512.bin" "$stage/bundle/stories260K/"
echo "keep_sm=${KEEP_SM:-all} commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +dirty) packed=$(date -u +%FT%TZ)" > "$stage/bundle/PACKED"

say "compressing with $COMPRESS"
rm -rf "$out"; mkdir -p "$out"
tar -C "$stage/bundle" -cf - . | $COMPRESS > "$out/bundle.tar.xz"
(cd "$out" && sha256sum bundle.tar.xz > bundle.sha256)
say "splitting into ${PIECE_MIB} MiB pieces"
(cd "$out" && split -b "${PIECE_MIB}M" -d -a 1 bundle.tar.xz piece. && rm bundle.tar.xz && sha256sum piece.* > pieces.sha256)
du -b "$out"/* | sed "s|$repo/||" >&2
say "done: $(ls "$out" | grep -c '^piece\.') piece(s) in $out"
