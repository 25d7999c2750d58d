#!/usr/bin/env bash
# On the CUDA host, once per call that carries pieces of pack.sh's bundle: keep the pieces that came (bench/gpu/pack/
# piece.N, checked against pieces.sha256) in DEST, which outlives the call while the machine stays up; once every piece
# is there, join them, check the whole against bundle.sha256 and unpack to DEST/bundle (app/, stories260K/, PACKED).
#
# usage: bench/gpu/receive.sh [PACK_DIR [DEST]]     (defaults bench/gpu/pack, /tmp/onnxsteer-gpu)
# Exit 0 with "complete" when DEST/bundle is ready, 0 with "waiting for ..." while pieces are missing, 1 on a bad sum.
set -euo pipefail
pack=${1:-bench/gpu/pack}
dest=${2:-/tmp/onnxsteer-gpu}
mkdir -p "$dest"
if [[ -f $dest/bundle/PACKED ]]; then echo "receive: complete (already unpacked: $(cat "$dest/bundle/PACKED"))"; exit 0; fi
for f in pieces.sha256 bundle.sha256; do [[ -f $pack/$f ]] && cp "$pack/$f" "$dest/"; done
[[ -f $dest/pieces.sha256 ]] || { echo "receive: no pieces.sha256 in $pack or $dest: carry bench/gpu/pack/pieces.sha256" >&2; exit 1; }
for p in "$pack"/piece.*; do
  [[ -e $p ]] || continue
  name=$(basename "$p")
  (cd "$(dirname "$p")" && grep " $name\$" "$dest/pieces.sha256" | sha256sum -c --quiet) || { echo "receive: $name arrived damaged" >&2; exit 1; }
  cp "$p" "$dest/$name"
  echo "receive: $name ok ($(stat -c %s "$p") bytes)"
done
missing=$(cd "$dest" && awk '{ print $2 }' pieces.sha256 | while read -r n; do [[ -f $n ]] || printf '%s ' "$n"; done)
if [[ -n $missing ]]; then echo "receive: waiting for $missing"; exit 0; fi
cd "$dest"
cat $(awk '{ print $2 }' pieces.sha256) > bundle.tar.xz
sha256sum -c --quiet bundle.sha256 || { echo "receive: the joined bundle does not match bundle.sha256" >&2; exit 1; }
mkdir -p bundle.part
if command -v xz > /dev/null; then xz -dc bundle.tar.xz | tar -xf - -C bundle.part
else python3 -c 'import lzma, sys, tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])' bundle.tar.xz bundle.part; fi
mv bundle.part bundle
rm -f bundle.tar.xz $(awk '{ print $2 }' pieces.sha256)
echo "receive: complete: $(cat bundle/PACKED)"
