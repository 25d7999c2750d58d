#!/usr/bin/env python3
"""The PyTorch reference of bench/torch/compare.py: what AUSteer's own code does, a Llama in torch with forward hooks.

Loads a llama2.c checkpoint (stories260K, or the checkpoint `OnnxSteer.Bench synth-checkpoint` writes for a synthetic
model: the same weights `onnxsteer synth llama` exports), and
  profile   records, with forward hooks on every layer's o_proj (input), down_proj (input) and down_proj (output), the
            last real token's activation of each sequence in right-padded batches (pairs sorted by length, as OnnxSteer
            does), counting per unit the pairs whose momentum x(pos) - x(neg) is > 0 and < 0. The careful variant: the
            forward stops after the last layer (no final norm, no logits), as OnnxSteer's pruned profiling graph does.
  decode    greedy decoding with a KV cache, optionally steered: forward pre-hooks multiply the chosen units of
            o_proj's or down_proj's input (or a forward hook down_proj's output) by (1 + gamma).
Prints one JSON object. Run by compare.py; never by the test suite.
"""
import argparse
import json
import math
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.head_size = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_size, bias=False)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_size, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_size)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_size)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_size)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[0], cache[1] = k, v
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        out = F.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


def rope(x, cos, sin):
    # llama2.c's run.c: rotate each adjacent pair (2i, 2i+1) of a head by pos * freq(i).
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class RmsNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(dim)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Layer(nn.Module):
    def __init__(self, dim, hidden, heads, kv_heads):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = RmsNorm(dim), RmsNorm(dim)
        self.self_attn, self.mlp = Attention(dim, heads, kv_heads), Mlp(dim, hidden)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, dim, hidden, layers, heads, kv_heads, vocab, seq_len):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([Layer(dim, hidden, heads, kv_heads) for _ in range(layers)])
        self.norm = RmsNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        hs = dim // heads
        freq = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs))
        angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, ids, start=0, caches=None, logits=True, stop_after=None):
        t = ids.shape[1]
        cos, sin = self.cos[start:start + t], self.sin[start:start + t]
        mask = None
        if t > 1:
            mask = torch.full((t, start + t), float("-inf")).triu(start + 1)
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
            if stop_after is not None and i == stop_after:
                return None
        return self.lm_head(self.norm(x)) if logits else None


def load_llama2c(path):
    """A llama2.c checkpoint (legacy version-0 layout: 7 int32 header, weights [out][in], vocab < 0 = own classifier)."""
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("7i", f.read(28))
        shared = vocab > 0
        vocab = abs(vocab)
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    model = Llama(dim, hidden, layers, heads, kv_heads, vocab, seq_len)
    kv = kv_heads * (dim // heads)
    at = 0

    def take(*shape):
        nonlocal at
        n = math.prod(shape)
        out = data[at:at + n].view(*shape)
        at += n
        return out

    with torch.no_grad():
        model.embed_tokens.weight.copy_(take(vocab, dim))
        for name, shape in [("input_layernorm", (dim,)), ("q", (dim, dim)), ("k", (kv, dim)), ("v", (kv, dim)),
                            ("o", (dim, dim)), ("post_attention_layernorm", (dim,)), ("gate", (hidden, dim)),
                            ("down", (dim, hidden)), ("up", (hidden, dim))]:
            for layer in model.layers:
                w = take(*shape)
                target = {"input_layernorm": layer.input_layernorm.weight, "post_attention_layernorm": layer.post_attention_layernorm.weight,
                          "q": layer.self_attn.q_proj.weight, "k": layer.self_attn.k_proj.weight, "v": layer.self_attn.v_proj.weight,
                          "o": layer.self_attn.o_proj.weight, "gate": layer.mlp.gate_proj.weight, "down": layer.mlp.down_proj.weight,
                          "up": layer.mlp.up_proj.weight}[name]
                target.copy_(w)
        model.norm.weight.copy_(take(dim))
        take(seq_len * (dim // heads))  # legacy freq_cis tables, unused
        model.lm_head.weight.copy_(model.embed_tokens.weight if shared else take(vocab, dim))
    model.eval()
    return model


def sites(model):
    """(kind, layer, module, where) in OnnxSteer's profile order: attn, mlp, mlp-out, each by layer."""
    out = []
    for kind in ["attn", "mlp", "mlp-out"]:
        for i, layer in enumerate(model.layers):
            module = layer.self_attn.o_proj if kind == "attn" else layer.mlp.down_proj
            out.append((kind, i, module, "output" if kind == "mlp-out" else "input"))
    return out


def profile(model, sequences, pairs_per_batch, careful):
    """Momentum counts over pairs [pos_ids, neg_ids]; returns (counts, seconds per batch)."""
    recorded = {}
    handles = []
    for s, (_, _, module, where) in enumerate(sites(model)):
        def hook(mod, inputs, output, s=s, where=where):
            recorded[s] = inputs[0] if where == "input" else output
        handles.append(module.register_forward_hook(hook))
    n_sites = len(handles)
    positive = [None] * n_sites
    negative = [None] * n_sites
    times = []
    order = sorted(range(len(sequences)), key=lambda i: max(len(sequences[i][0]), len(sequences[i][1])))
    with torch.inference_mode():
        for start in range(0, len(order), pairs_per_batch):
            began = time.perf_counter()
            chunk = [sequences[i] for i in order[start:start + pairs_per_batch]]
            seqs = [s for pair in chunk for s in pair]
            length = max(len(s) for s in seqs)
            ids = torch.zeros((len(seqs), length), dtype=torch.long)
            for b, s in enumerate(seqs):
                ids[b, :len(s)] = torch.tensor(s)
            last = torch.tensor([len(s) - 1 for s in seqs])
            model(ids, logits=not careful, stop_after=len(model.layers) - 1 if careful else None)
            rows = torch.arange(len(seqs))
            for s in range(n_sites):
                act = recorded[s][rows, last]
                m = act[0::2] - act[1::2]
                pos, neg = (m > 0).sum(0), (m < 0).sum(0)
                positive[s] = pos if positive[s] is None else positive[s] + pos
                negative[s] = neg if negative[s] is None else negative[s] + neg
            times.append(time.perf_counter() - began)
    for h in handles:
        h.remove()
    return [p.tolist() for p in positive], [n.tolist() for n in negative], times


def decode(model, prompt, new_tokens, steer):
    """Greedy tokens after prompt with a KV cache; steer = [(kind, layer, unit, gamma)] applied by hooks. Returns (tokens, prefill s, per-token s)."""
    handles = []
    by_site = {}
    for kind, layer, unit, gamma in steer:
        by_site.setdefault((kind, layer), []).append((unit, gamma))
    for (kind, layer), units in by_site.items():
        idx = torch.tensor([u for u, _ in units])
        scale = torch.tensor([1.0 + g for _, g in units])
        module = model.layers[layer].self_attn.o_proj if kind == "attn" else model.layers[layer].mlp.down_proj
        if kind == "mlp-out":
            def post(mod, inputs, output, idx=idx, scale=scale):
                output[..., idx] = output[..., idx] * scale
                return output
            handles.append(module.register_forward_hook(post))
        else:
            def pre(mod, inputs, idx=idx, scale=scale):
                x = inputs[0].clone()
                x[..., idx] = x[..., idx] * scale
                return (x,)
            handles.append(module.register_forward_pre_hook(pre))
    caches = [[None, None] for _ in model.layers]
    tokens = []
    with torch.inference_mode():
        began = time.perf_counter()
        logits = model(torch.tensor([prompt]), 0, caches)
        prefill = time.perf_counter() - began
        nxt = int(logits[0, -1].argmax())
        tokens.append(nxt)
        began = time.perf_counter()
        for i in range(new_tokens - 1):
            logits = model(torch.tensor([[nxt]]), len(prompt) + i, caches)
            nxt = int(logits[0, -1].argmax())
            tokens.append(nxt)
        per_token = (time.perf_counter() - began) / max(1, new_tokens - 1)
    for h in handles:
        h.remove()
    return tokens, prefill, per_token


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["profile", "decode"])
    ap.add_argument("checkpoint")
    ap.add_argument("job", help="JSON: {pairs: [[pos ids], [neg ids]]..., prompt: [...], new_tokens, steer: [[kind, layer, unit, gamma]...], pairs_per_batch}")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = torch's default)")
    ap.add_argument("--full", action="store_true", help="profile: run the whole model, final norm and logits included")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    model = load_llama2c(args.checkpoint)
    load = time.perf_counter() - began
    job = json.load(open(args.job))
    out = {"threads": torch.get_num_threads(), "load_s": load, "torch": torch.__version__}
    if args.mode == "profile":
        pos, neg, times = profile(model, job["pairs"], job["pairs_per_batch"], careful=not args.full)
        steady = times[1:] or times
        out.update(positive=pos, negative=neg, pairs=len(job["pairs"]), batch_s=times,
                   steady_pairs_per_s=(len(job["pairs"]) - (job["pairs_per_batch"] if len(times) > 1 else 0)) / sum(steady),
                   total_s=time.perf_counter() - began)
    else:
        tokens, prefill, per_token = decode(model, job["prompt"], job["new_tokens"], [tuple(s) for s in job.get("steer", [])])
        out.update(tokens=tokens, prefill_s=prefill, decode_tokens_per_s=1.0 / per_token, total_s=time.perf_counter() - began)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
