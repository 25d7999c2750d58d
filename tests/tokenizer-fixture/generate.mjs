// Regenerates tests/OnnxSteer.Tests/Tokenizers/Fixtures/llama2-expected.json: expected ids for the real Llama-2
// tokenizer.json, produced by an independent implementation (@huggingface/tokenizers, the tokenizer code of
// transformers.js). Run from this folder: `npm ci && node generate.mjs [path/to/tokenizer.json]`.
import { Tokenizer } from "@huggingface/tokenizers";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const modelDir = resolve(repo, "..", "shared", "models", "tiny-random-llama-genai-fp16");
const tokenizerPath = resolve(process.argv[2] ?? join(modelDir, "tokenizer.json"));
const configPath = join(dirname(tokenizerPath), "tokenizer_config.json");
const output = join(repo, "tests", "OnnxSteer.Tests", "Tokenizers", "Fixtures", "llama2-expected.json");

const raw = readFileSync(tokenizerPath);
const tokenizer = new Tokenizer(JSON.parse(raw.toString("utf8")), JSON.parse(readFileSync(configPath, "utf8")));
const version = JSON.parse(readFileSync(join(here, "node_modules", "@huggingface", "tokenizers", "package.json"), "utf8")).version;

// Hand-picked cases: whitespace, digits, accents, scripts, emoji, code, long inputs.
const cases = [
  "", " ", "  ", "   ", "\n", "\n\n", "\t", "\t\t", "\r\n", " \n ", "\n \n", " \t\n\r ",
  "Hello", "Hello world", "Hello world!", " Hello", "  Hello", "Hello ", "Hello  ", "Hello   world", "Hello\tworld",
  "Hello\nworld", "Hello\n\nworld", "Hello\r\nworld", "Hello \n world", "hello, world. how are you?",
  "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "tHe QuIcK bRoWn FoX",
  "Once upon a time, there was a little girl named Lily.", "She liked to play outside in the sun.",
  "It's a dog's life; isn't it? You're right, we'll see — they'd've known.", "don't can't won't shouldn't",
  "e.g. i.e. etc. Mr. Mrs. Dr. St.", "U.S.A.", "Hello...world", "Wait!!! What???", "(parentheses) [brackets] {braces} <angles>",
  "\"double quotes\" and 'single quotes'", "`backticks` and ~tildes~", "a-b_c.d/e\\f|g", "#hashtag @mention $money %percent ^caret &amp *star",
  "0", "1", "12", "123", "1234", "12345", "123456789", "007", "3.14159", "-42", "+1 (555) 123-4567", "1,000,000", "1e10",
  "2024-01-01T12:34:56Z", "0x1F 0b1010 0o777", "v1.2.3", "100%", "$19.99", "1/2 + 3/4 = 5/4", "a1b2c3", "abc123def456",
  "   leading spaces", "trailing spaces   ", "in    between", "a b  c   d    e     f", "          ten spaces",
  " ".repeat(17), "\n".repeat(7), "\t".repeat(5), "x" + " ".repeat(31) + "y", "end\n", "\nstart", "mixed \t \n \r whitespace",
  "café", "naïve", "résumé", "Ångström", "Zürich", "São Paulo", "Ærøskøbing", "façade", "jalapeño", "crème brûlée",
  "e\u0301", "cafe\u0301", "n\u0303", "A\u030A", "\u00C5", "ﬁ ligature", "Ⅻ", "½ ¼ ¾", "x² + y³", "H₂O",
  "你好", "你好，世界", "中文文本测试", "我爱自然语言处理。", "日本語のテキスト", "こんにちは", "カタカナ", "東京都",
  "한국어", "안녕하세요", "Привет, мир!", "Съешь же ещё этих мягких французских булок", "Γειά σου Κόσμε", "αβγδε",
  "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Xin chào thế giới", "ᚠᛇᚻ᛫ᛒᛦᚦ", "ሰላም ዓለም", "Բարեւ", "გამარჯობა",
  "😀", "😀😀", "😀 😃 😄", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵🇺🇸", "❤️", "☃", "✓ ✗", "I ❤️ NY", "🚀 to the 🌕!", "emoji👍inside",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝕏", "𠀀𠀁", "🀄", "🎉🎊🎈", "🙈🙉🙊",
  "∑∫√∞≠≤≥", "∀x∈ℝ: x²≥0", "→ ← ↑ ↓ ⇒", "© ® ™ § ¶", "• · … ‰", "€ £ ¥ ₹ ₿", "°C °F", "µs ns ms",
  "\u00A0non-breaking\u00A0space", "zero\u200Bwidth", "joiner\u200Dhere", "\uFEFFbom", "soft\u00ADhyphen", "\u0001\u0002\u0003",
  "\u0000", "bell\u0007", "esc\u001B[0m", "\u007F", "line\u2028sep", "para\u2029sep",
  "def foo(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}", "if (a && b || !c) { return; }",
  "const f = (a, b) => a + b;", "SELECT * FROM users WHERE id = 1;", "<div class=\"main\">Hello</div>", "<html><body></body></html>",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "key: value\nlist:\n  - item", "# Title\n\n* bullet\n* bullet",
  "x = y if z else w", "import numpy as np", "print(\"Hello, World!\")", "#include <stdio.h>", "fn main() { println!(\"hi\"); }",
  "https://example.com/path?query=1&b=2#frag", "user@example.com", "C:\\Users\\name\\file.txt", "/usr/local/bin/python3",
  "^[a-z0-9_-]{3,16}$", "a.b.c.d", "snake_case_name", "camelCaseName", "PascalCaseName", "kebab-case-name", "SCREAMING_CASE",
  "<s>", "</s>", "<unk>", "Hello <s> world", "a</s>b", "<s><s>", "<s > < s>", "▁", "▁▁hello", "word▁word",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababababababab", "the the the the the the the",
  "Supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis", "antidisestablishmentarianism",
];

const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ";
cases.push(lorem.repeat(8), "Once upon a time.\n".repeat(20), "1234567890".repeat(30), "你好世界".repeat(40), "😀👍".repeat(25),
  "a ".repeat(150), " ".repeat(200), "naïve café ".repeat(30));

// Seeded pseudo-random strings over a mixed alphabet, so the set is reproducible.
let seed = 12345;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pool = Array.from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789     \n\t.,;:!?'\"-()[]{}<>/\\@#$%^&*_+=~`|éüñçøåßæœ你好世界日本語한국Привет😀🎉👍❤∑∞→€")
  ;
for (let n = 0; n < 80; n++) {
  const length = 1 + Math.floor(random() * (n < 60 ? 24 : 200));
  let s = "";
  for (let i = 0; i < length; i++) s += pool[Math.floor(random() * pool.length)];
  cases.push(s);
}

const seen = new Set();
const records = [];
for (const text of cases) {
  if (seen.has(text)) continue;
  seen.add(text);
  const ids = tokenizer.encode(text).ids;
  // Inputs containing added-token text or a literal "▁" cannot round-trip through Llama-2's decoder.
  const roundTrips = !/<\/?s>|<unk>|▁/.test(text);
  records.push({ text, ids, roundTrips });
}

const fixture = {
  generator: `@huggingface/tokenizers@${version} (tests/tokenizer-fixture/generate.mjs)`,
  tokenizer: "../shared/models/tiny-random-llama-genai-fp16/tokenizer.json",
  tokenizerSha256: createHash("sha256").update(raw).digest("hex"),
  addSpecialTokens: true,
  cases: records,
};
// One case per line keeps the committed file small and its diffs readable.
const { cases: rows, ...header } = fixture;
const json = JSON.stringify(header, null, 1).replace(/\n}$/, ',\n "cases": [\n') +
  rows.map((r) => "  " + JSON.stringify(r)).join(",\n") + "\n ]\n}\n";
writeFileSync(output + ".tmp", json);
renameSync(output + ".tmp", output);
console.log(`${records.length} cases -> ${output}`);
