#!/usr/bin/env bash
# make demo: the whole AUSteer job on the default model (stories260K), with every step a plain CLI call.
# Behaviour steered: stories whose characters feel happy rather than sad.
set -euo pipefail
ONNXSTEER=${1:-"dotnet src/OnnxSteer.Cli/bin/Release/net10.0/OnnxSteer.Cli.dll"}
cd "$(dirname "$0")/../.."
out=models/demo
src=models/stories260K-src
# Each run starts from an empty models/demo/ (the commands refuse to overwrite outputs without --force).
rm -rf "$out"
mkdir -p "$out"
# Bold headings on a terminal only: `make demo | tee log` and NO_COLOR get plain text, as every onnxsteer command does.
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }; else step() { printf '\n== %s\n' "$*"; }; fi
started=$(date +%s)

step "1. Get the model"
if [[ -f ../shared/models/stories260K/stories260K.bin ]]; then
  ckpt=../shared/models/stories260K/stories260K.bin; tok=../shared/models/stories260K/tok512.bin
  echo "using ../shared/models/stories260K"
else
  mkdir -p "$src"; ckpt=$src/stories260K.bin; tok=$src/tok512.bin
  base=https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K
  for f in stories260K.bin tok512.bin; do
    [[ -s $src/$f ]] && continue
    if ! curl -fsSL --max-time 60 -o "$src/$f.part" "$base/$f"; then
      echo "error: ../shared/models/stories260K is absent and $base/$f could not be downloaded (offline?)." >&2
      echo "Put stories260K.bin and tok512.bin from karpathy/tinyllamas into $src/ and run make demo again." >&2
      exit 2
    fi
    mv "$src/$f.part" "$src/$f"
  done
fi

step "2. Import the llama2.c checkpoint to ONNX (onnxruntime-genai layout)"
$ONNXSTEER import llama2c "$ckpt" --tokenizer "$tok" -o "$out/model" --style genai --dtype fp32
$ONNXSTEER inspect "$out/model" | tail -n 20

step "3. Contrastive pairs: happy (positive) versus sad (negative), both answers ending on the same word (README)"
for name in Lily Tom Ben Sue Anna Max Mia Sam Lucy Tim Jack Amy; do
  for prompt in "$name played with a ball all day. At the end of the day $name felt very" \
                "$name lost a toy in the park. $name was very" \
                "One day, $name got a new red bike. $name was so" \
                "$name saw a big dog in the garden and felt"; do
    printf '{"prompt": "%s", "positive": " happy and", "negative": " sad and"}\n' "$prompt"
  done
done > "$out/pairs.jsonl"
wc -l < "$out/pairs.jsonl" | xargs echo "pairs:"

step "4. Profile: activation momentum of every unit; the defaults keep the top 32 mlp units at alpha 1"
$ONNXSTEER profile "$out/model" --pairs "$out/pairs.jsonl" -o "$out/profile.json"

step "5. Patch: multiply the chosen scalars by (1 + gamma)"
$ONNXSTEER patch "$out/model" "$out/profile.json" -o "$out/steered"

step "6. Diff: what the patch changed"
$ONNXSTEER diff "$out/model/model.onnx" "$out/steered/model.onnx" || [[ $? == 1 ]]

step "7. Vanilla versus steered on held-out prompts"
cat > "$out/prompts.txt" <<'PROMPTS'
Once upon a time, there was a little boy named Leo. He loved to play with his
Kim went to the farm. On the farm she saw a
Once upon a time, there was a girl who wanted a new friend. One day she found a
Ben was sad because he lost his toy. Then he heard a
The sun was shining and the birds were singing. A little
Once upon a time, in a small house, there lived a
Sara went to the store with her dad. Outside the store there was a
One day, a little girl named Zoe went for a walk in the woods. She saw a
Tim had a big red ball. He threw the ball and his
Once upon a time, there was a happy family. They had a
Mom said, "Let's go to the park." At the park, the kids played with a
Once upon a time there was a little
Jill was playing in the garden when she saw something move. It was a
There was a big tree in the yard. Under the tree slept a
Once upon a time, a boy named Sam wanted a pet. He asked his mom for a
Lucy heard a noise at the door. She opened it and saw a
One night, the stars were bright. A small
Once upon a time, there was a kind old man. He had a
The children ran to the lake. Near the water they found a
Max woke up early and went outside. In the grass he saw a
PROMPTS
$ONNXSTEER compare "$out/model" "$out/steered" --prompts "$out/prompts.txt" --max-new-tokens 30 \
  --count happy,glad,smiled,smile --count sad,cried,cry,scared -o "$out/compare.json"

echo
echo "Done in $(( $(date +%s) - started )) s. Outputs are in $out/: model/, pairs.jsonl, profile.json, steered/, compare.json."
