// Encoding speed of the npm implementation, to compare with OnnxSteer's: `node bench.mjs TEXT_FILE [tokenizer.json]`.
// Prints MB/s (UTF-8 input bytes per second of CPU-bound wall time, best of 5) for the whole text and line by line.
import { Tokenizer } from "@huggingface/tokenizers";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tokenizerPath = resolve(process.argv[3] ?? join(here, "..", "..", "..", "shared", "models", "tiny-random-llama-genai-fp16", "tokenizer.json"));
const config = JSON.parse(readFileSync(join(dirname(tokenizerPath), "tokenizer_config.json"), "utf8"));
const tokenizer = new Tokenizer(JSON.parse(readFileSync(tokenizerPath, "utf8")), config);
const text = readFileSync(process.argv[2], "utf8");
const megabytes = Buffer.byteLength(text, "utf8") / 1e6;
const lines = text.split("\n");

const best = (fn) => {
  let fastest = Infinity, result;
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint();
    result = fn();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return [fastest, result];
};
const [whole, ids] = best(() => tokenizer.encode(text).ids.length);
const [byLine, count] = best(() => lines.reduce((n, l) => n + tokenizer.encode(l).ids.length, 0));
console.log(JSON.stringify({ implementation: "@huggingface/tokenizers", megabytes, wholeIds: ids, wholeMBps: megabytes / whole, lineIds: count, lineMBps: megabytes / byLine }));
