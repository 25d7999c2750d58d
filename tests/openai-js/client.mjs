// Talks to a running `onnxsteer serve` with the official npm `openai` package and prints what it got as one JSON line.
// Usage: node client.mjs OPENAI_PACKAGE_DIR BASE_URL MODEL_ID
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const [pkg, baseURL, model] = process.argv.slice(2);
const { default: OpenAI } = await import(pathToFileURL(path.join(pkg, 'index.mjs')).href);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
const prompt = 'Once upon a time, there was a little';
const messages = [{ role: 'user', content: prompt }];
const out = {};

const vanilla = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0 });
out.completion = vanilla.choices[0].text;
out.completionTokens = vanilla.usage.completion_tokens;
out.completionSteering = vanilla.steering;

// The steering field is not in the library's types; the library sends unknown body fields as they are.
const steered = await client.completions.create({ model, prompt, max_tokens: 12, temperature: 0, steering: { profile: 'happy', strength: 0.5 } });
out.steered = steered.choices[0].text;
out.steeredSteering = steered.steering;

const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
out.chat = chat.choices[0].message.content;

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  steering: { profile: 'calm', strength: 2 },
});
out.streamed = '';
out.chunks = 0;
for await (const chunk of stream) {
  out.chunks++;
  out.streamed += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.usage) out.streamedTokens = chunk.usage.completion_tokens;
}

try {
  await client.completions.create({ model, prompt, steering: { profile: 'happy', strength: 99 } });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, param: e.param ?? e.error?.param ?? null, message: e.message };
}

const listed = [];
for await (const m of client.models.list()) listed.push(m.id);
out.models = listed;

console.log(JSON.stringify(out));
