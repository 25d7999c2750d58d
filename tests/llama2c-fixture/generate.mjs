// Regenerates tests/OnnxSteer.Tests/Reference/Fixtures/stories260K-llama2c.json: what llama2.c's own run.c computes on
// ../shared/models/stories260K (greedy token ids from BOS, the logits of a few steps, its encoder's ids for a few
// hundred strings). An anchor outside this repository's code: the checkpoint and tokenizer are read by run.c, not by
// OnnxSteer's readers. run.c is not in this repository; fetch it yourself from karpathy/llama2.c at the commit below.
//
// Run from this folder: `node generate.mjs path/to/run.c`   (needs gcc; no npm packages)
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, renameSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const RUN_C_COMMIT = "bd182289c596fa6059eb7b3b7c8ccd04b5c90fc3"; // first run.c with grouped-query attention and computed RoPE
const STEPS = 256;
const LOGIT_STEPS = [0, 1, 63];
const CFLAGS = ["-O2", "-std=gnu11"]; // no -ffast-math: IEEE float32 as written

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const shared = resolve(repo, "..", "shared");
const model = join(shared, "models", "stories260K");
const output = join(repo, "tests", "OnnxSteer.Tests", "Reference", "Fixtures", "stories260K-llama2c.json");
const runC = process.argv[2];
if (!runC) { console.error("usage: node generate.mjs path/to/run.c"); process.exit(64); }

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

// Strings for the encoder: the Llama-2 tokenizer fixture's texts that a C string and llama2.c's vocabulary can take
// (no NUL, no literal "<s>"-style tokens, no "▁"), then real English from COPA and SVAMP. Never empty: this run.c adds
// its " " prefix even to an empty string, where later versions (and OnnxSteer) do not.
const strings = [];
for (const c of JSON.parse(readFileSync(join(repo, "tests", "OnnxSteer.Tests", "Tokenizers", "Fixtures", "llama2-expected.json"), "utf8")).cases)
  if (c.text.length > 0 && !/[\0▁]|<s>|<\/s>|<unk>/.test(c.text)) strings.push(c.text);
for (const line of readFileSync(join(shared, "data", "copa", "val.jsonl"), "utf8").split("\n").filter(Boolean).slice(0, 60)) {
  const item = JSON.parse(line);
  strings.push(item.premise, `${item.choice1} ${item.choice2}`);
}
for (const item of JSON.parse(readFileSync(join(shared, "data", "svamp", "test.json"), "utf8")).slice(0, 40))
  strings.push(`${item.Body} ${item.Question}`);

const work = mkdtempSync(join(tmpdir(), "llama2c-fixture-"));
try {
  copyFileSync(resolve(runC), join(work, "run.c"));
  copyFileSync(join(here, "dump.c"), join(work, "dump.c"));
  execFileSync("gcc", [...CFLAGS, "-o", join(work, "dump"), join(work, "dump.c"), "-lm"], { stdio: ["ignore", "ignore", "inherit"] });
  writeFileSync(join(work, "strings.bin"), Buffer.concat(strings.map((s) => Buffer.from(s + "\0", "utf8"))));
  const printed = execFileSync(join(work, "dump"), [join(model, "stories260K.bin"), join(model, "tok512.bin"), String(STEPS),
    LOGIT_STEPS.join(","), join(work, "strings.bin")], { encoding: "utf8", maxBuffer: 1 << 26 });

  const logits = {};
  let greedy = null;
  const encoder = [];
  for (const line of printed.trim().split("\n")) {
    const [kind, ...rest] = line.split(" ");
    if (kind === "logits") logits[rest[0]] = rest.slice(1).map(Number);
    else if (kind === "greedy") greedy = rest.map(Number);
    else if (kind === "encode") encoder.push({ text: strings[Number(rest[0])], ids: rest.slice(1).map(Number) });
  }
  if (!greedy || encoder.length !== strings.length || LOGIT_STEPS.some((s) => !logits[s])) throw new Error("dump printed too little");

  const fixture = {
    generator: "tests/llama2c-fixture/generate.mjs (dump.c compiled against llama2.c run.c)",
    runC: { repository: "karpathy/llama2.c", commit: RUN_C_COMMIT, sha256OfFileUsed: sha256(runC) },
    compiler: `${execFileSync("gcc", ["--version"], { encoding: "utf8" }).split("\n")[0]} ${CFLAGS.join(" ")}`,
    checkpoint: "../shared/models/stories260K/stories260K.bin",
    checkpointSha256: sha256(join(model, "stories260K.bin")),
    tokenizer: "../shared/models/stories260K/tok512.bin",
    tokenizerSha256: sha256(join(model, "tok512.bin")),
    greedyFromBos: { steps: STEPS, ids: greedy },
    logitsAtStep: logits,
    encoder,
  };
  // One line per array so that a diff of a regenerated fixture stays readable.
  const text = JSON.stringify(fixture, null, 1).replace(/\[\s+([^\[\]{}]*?)\s+\]/g, (_, body) => `[${body.replace(/\s+/g, "")}]`);
  writeFileSync(output + ".tmp", text + "\n");
  renameSync(output + ".tmp", output);
  console.log(`${output}: ${greedy.length} greedy ids, logits at steps ${LOGIT_STEPS.join(",")}, ${encoder.length} encoded strings`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
