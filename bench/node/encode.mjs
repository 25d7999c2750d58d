// B4 (issue 9): one timed encode pass of TEXT_FILE, line by line, with @huggingface/tokenizers — an implementation
// independent of OnnxSteer's. `node encode.mjs TOKENIZER_JSON TEXT_FILE` prints one JSON line. bench/run.sh runs it
// alternately with `OnnxSteer.Bench b4` so both see the same machine load. The first 5% of the lines are encoded once
// untimed (warm-up), like the C# side.
import { Tokenizer } from "@huggingface/tokenizers";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const [tokenizerPath, textPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(join(dirname(tokenizerPath), "tokenizer_config.json"), "utf8"));
const tokenizer = new Tokenizer(JSON.parse(readFileSync(tokenizerPath, "utf8")), config);
const text = readFileSync(textPath, "utf8");
const lines = text.split("\n");
const encode = (list) => list.reduce((n, l) => n + tokenizer.encode(l, { add_special_tokens: false }).ids.length, 0);
encode(lines.slice(0, Math.ceil(lines.length / 20)));
const start = process.hrtime.bigint();
const ids = encode(lines);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const megabytes = Buffer.byteLength(text, "utf8") / 1e6;
console.log(JSON.stringify({ implementation: "@huggingface/tokenizers", megabytes, lines: lines.length, ids, seconds, mbps: megabytes / seconds }));
