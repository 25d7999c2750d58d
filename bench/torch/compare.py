#!/usr/bin/env python3
"""OnnxSteer against the approach AUSteer's own code takes: a PyTorch Llama with forward hooks (llama_hooks.py).

For each model (stories260K, and synthetic Llamas of ~100M and ~400M parameters, fp32):
  1. check, before any timing, that PyTorch gives OnnxSteer's greedy tokens (vanilla and steered: OnnxSteer's patched
     model vs PyTorch's hooks on the same units) and OnnxSteer's per-unit momentum counts on the same pairs;
  2. time, in interleaved rounds (one run of each contender per round, the starting one rotating), fresh processes:
     profiling (steady pairs/s after the first batch, and the whole run's wall time) and steered decoding (tokens/s), at
     both tools' default threads and at equal threads (the usable CPUs on both sides);
  3. time `onnxsteer patch` against the careful python-onnx script (patch_script.py), also interleaved.
Ratios are medians of per-round ratios (min-max in brackets); > 1 favours OnnxSteer. Writes a markdown fragment.
Never run by the tests: `make bench` (bench/run.sh, part `torch`) runs it.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # Debian's python3-torch, python3-onnx and python3-numpy live there

PROMPTS = ["{0} looked at the sky and said it was", "After the game {0} felt", "The soup {0} made tasted",
           "When {0} opened the letter, the news was", "{0} thought the movie was", "The weather in {0}'s town was",
           "{0} said the new teacher was", "Walking home, {0} felt the day had been that it could only be described as",
           "Once upon a time, in a town by the sea where the wind never stopped, {0} found a box that was"]
NAMES = ["Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal"]
ANSWERS = [(" bright", " dark"), (" happy", " sad"), (" good", " bad"), (" great", " awful")]


def say(*a):
    print("==", time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def run(cmd, env=None, capture=True):
    began = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=capture, text=True)
    wall = time.perf_counter() - began
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:] if capture else ''}")
    return p.stdout, wall


def torch_env():
    # Debian's OpenBLAS reads OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, which this machine sets for old builds' sake
    # (/work/.library/env/README.md); they would pin a Haswell kernel. Unset here only, for PyTorch's runs.
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


def blas_info():
    """(OpenBLAS core, BLAS library, torch version, torch's default threads) as PyTorch's runs see them."""
    code = ("import ctypes, torch\n"
            "libs = sorted(set(l for l in open('/proc/self/maps').read().split() if 'blas' in l.lower()))\n"
            "core = 'none (not OpenBLAS)'\n"
            "for l in libs:\n"
            "    try:\n"
            "        f = ctypes.CDLL(l).openblas_get_corename; f.restype = ctypes.c_char_p; core = f().decode(); break\n"
            "    except Exception: pass\n"
            "print(core, libs[0] if libs else 'no BLAS mapped', torch.__version__, torch.get_num_threads())\n")
    out, _ = run([PY, "-c", code], env=torch_env())
    return out.split()


def write_pairs(path, count):
    with open(path, "w") as f:
        for i in range(count):
            pos, neg = ANSWERS[i % len(ANSWERS)]
            prompt = PROMPTS[(i // len(NAMES)) % len(PROMPTS)].format(NAMES[i % len(NAMES)])
            f.write(json.dumps({"prompt": prompt, "positive": pos, "negative": neg}) + "\n")


def median_range(xs):
    return f"**{statistics.median(xs):.2f}** ({min(xs):.2f}–{max(xs):.2f})"


def interleave(contenders, rounds):
    """contenders: name -> function returning a dict; returns name -> [results], the starting contender rotating."""
    names = list(contenders)
    out = {n: [] for n in names}
    for r in range(rounds):
        for k in range(len(names)):
            n = names[(r + k) % len(names)]
            out[n].append(contenders[n]())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", default="bench/work/torch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="stories260K,100M,400M")
    ap.add_argument("--report", required=True)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=0, help="pairs per synthetic model (default: 96 at ~100M, 48 at ~400M, 32 BoolQ pairs)")
    ap.add_argument("--equal-threads", type=int, default=0, help="threads both sides get in the equal rows (default: the usable CPUs)")
    ap.add_argument("--patch-clis", default="", help="'LABEL=COMMAND;...': the onnxsteer builds timed against the python-onnx script (default: --cli)")
    ap.add_argument("--skip-patch", action="store_true", help="leave out the patch comparison")
    args = ap.parse_args()
    cli, bench = args.cli.split(), args.bench.split()
    os.makedirs(args.work, exist_ok=True)
    cpus = len(os.sched_getaffinity(0))
    equal_threads = args.equal_threads or cpus
    patch_clis = [(x.split("=", 1)[0], x.split("=", 1)[1].split()) for x in args.patch_clis.split(";") if x] or [("onnxsteer", cli)]
    lines = []
    add = lines.append
    blas = blas_info()
    add("## PyTorch comparison (issue 29): OnnxSteer vs a PyTorch Llama with forward hooks")
    add("")
    core, lib, version, torch_threads = blas
    add(f"PyTorch side (bench/torch/llama_hooks.py): torch {version} from Debian (python3-torch) with OpenBLAS "
        f"(libopenblas0-pthread: `{lib}`, kernel `{core}`: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which this machine sets "
        "for old builds' sake, are unset for PyTorch's runs only; the checks below confirm its results); glibc malloc with "
        f"default settings on both sides (no allocator tuning); torch's default threads here: {torch_threads} (OpenMP), "
        "OpenBLAS's own pool its default. Hooks on every layer's o_proj (input) and down_proj (input and output), "
        "batches of 4 pairs sorted by length as OnnxSteer's, and the forward stops after the last layer (no final norm, "
        "no logits): the careful reference. Steered decoding: forward pre-hooks (o_proj, down_proj input) and hooks "
        "(down_proj output) multiply the profile's units by (1 + gamma), KV cache, greedy. OnnxSteer side: `OnnxSteer.Bench "
        f"torch-onnx-*` (the profile command's ProfileRunner; generate's own decoding loop on the patched model). Usable "
        f"CPUs: {cpus}. Fresh processes for every run; {args.rounds} interleaved rounds; ratios are medians of per-round "
        "ratios (min–max), > 1 favours OnnxSteer. Load average (1, 5, 15 min) at the start: "
        + " ".join(open("/proc/loadavg").read().split()[:3]) + ".")
    add("")
    # Pair counts: the steady rate is taken after the first batch, and a run of 24 pairs (~0.6 s at ~100M) was still
    # OnnxSteer's warm-up (.NET compiling hot methods again in the background, beside ONNX Runtime's threads on 2 cores):
    # enough pairs that both sides reach their steady rate, as a real profiling run (hundreds of pairs) does.
    shapes = {
        "100M": ("synthetic ~100M (8 layers, 768 hidden, 2048 intermediate, 12 heads, vocab 32000, fp32)", [8, 768, 2048, 12, 32000], 96),
        "400M": ("synthetic ~400M (24 layers, 1024 hidden, 2816 intermediate, 16 heads, vocab 32000, fp32)", [24, 1024, 2816, 16, 32000], 48),
    }
    # Real task pairs: BoolQ (a passage and a question, answered " yes" or " no") on the ~100M weights with the Llama-2
    # tokenizer (../shared's onnxruntime-genai export), so an answer is a token or two after a long shared prompt, as in
    # the method's tasks. Profiling only: its decoding and patching are the ~100M model's.
    tasks = {"100M-boolq": ("synthetic ~100M with the Llama-2 tokenizer, BoolQ pairs (../shared/data/boolq/dev.jsonl)", "100M", "boolq",
                            "../shared/data/boolq/dev.jsonl", "../shared/models/tiny-random-llama-genai-fp16", 32)}
    summary = []
    for key in args.models.split(","):
        folder = os.path.join(args.work, key)
        model = os.path.join(folder, "model")
        checkpoint = os.path.join(folder, "model.bin")
        if key == "stories260K":
            label, pair_count = "stories260K (llama2.c, imported genai style fp32)", 128
            checkpoint = "../shared/models/stories260K/stories260K.bin"
            if not os.path.exists(os.path.join(model, "model.onnx")):
                say("import stories260K")
                shutil.rmtree(folder, ignore_errors=True)
                run(cli + ["import", "llama2c", checkpoint, "--tokenizer", "../shared/models/stories260K/tok512.bin", "-o", model,
                           "--style", "genai", "--dtype", "fp32"])
        elif key in tasks:
            label, base, task, data, tokenizer_dir, pair_count = tasks[key]
            base_model = os.path.join(args.work, base, "model")
            if not os.path.exists(os.path.join(base_model, "model.onnx.data")) or not os.path.exists(os.path.join(args.work, base, "model.bin")):
                raise RuntimeError(f"{key} reuses the {base} model and checkpoint: run --models {base},{key}")
            if not os.path.exists(os.path.join(model, "model.onnx")):
                shutil.rmtree(folder, ignore_errors=True)
                os.makedirs(model)
                for f in ("model.onnx", "model.onnx.data", "genai_config.json"):
                    os.link(os.path.join(base_model, f), os.path.join(model, f))
                for f in ("tokenizer.json", "tokenizer_config.json"):
                    shutil.copy(os.path.join(tokenizer_dir, f), os.path.join(model, f))
                os.link(os.path.join(args.work, base, "model.bin"), checkpoint)
        else:
            label, shape, pair_count = shapes[key]
            pair_count = args.pairs or pair_count
            if not os.path.exists(os.path.join(model, "model.onnx.data")):
                say(f"synth {key}")
                shutil.rmtree(folder, ignore_errors=True)
                L, H, I, NH, V = shape
                run(cli + ["synth", "llama", "-o", model, "--layers", str(L), "--hidden", str(H), "--intermediate", str(I),
                           "--heads", str(NH), "--vocab", str(V), "--dtype", "fp32", "--style", "genai"])
            if not os.path.exists(checkpoint):
                say(f"llama2.c checkpoint of {key}")
                run(bench + ["torch-checkpoint", checkpoint] + [str(x) for x in shape])
        pairs = os.path.join(folder, "pairs.jsonl")
        if key in tasks:
            run(bench + ["task-pairs", task, data, str(args.pairs or pair_count), pairs])
        else:
            write_pairs(pairs, pair_count)
        profile_only = key in tasks
        profile = os.path.join(folder, "profile.json")
        patched = os.path.join(folder, "patched")
        job = os.path.join(folder, "job.json")
        say(f"{key}: profile, patch, job")
        run(cli + ["profile", model, "--pairs", pairs, "-o", profile, "-q", "--force"])
        shutil.rmtree(patched, ignore_errors=True)
        run(cli + ["patch", model, profile, "-o", patched])
        run(bench + ["torch-job", model, pairs, "Once upon a time", str(args.new_tokens), profile, job])

        def onnx_profile(threads):
            def f():
                out, wall = run(bench + ["torch-onnx-profile", model, pairs, str(threads)])
                r = json.loads(out)
                r["wall_s"] = wall
                return r
            return f

        def torch_profile(threads):
            def f():
                out, wall = run([PY, os.path.join(HERE, "llama_hooks.py"), "profile", checkpoint, job, "--threads", str(threads)], env=torch_env())
                r = json.loads(out)
                r["wall_s"] = wall
                return r
            return f

        def onnx_decode(threads, steered=True):
            return lambda: json.loads(run(bench + ["torch-onnx-decode", patched if steered else model, job, str(threads)])[0])

        def torch_decode(threads, steered=True):
            def f():
                j = job
                if not steered:
                    j = job + ".vanilla.json"
                    data = json.load(open(job))
                    data["steer"] = []
                    json.dump(data, open(j, "w"))
                return json.loads(run([PY, os.path.join(HERE, "llama_hooks.py"), "decode", checkpoint, j, "--threads", str(threads)], env=torch_env())[0])
            return f

        say(f"{key}: correctness checks")
        checks = []
        ok = True
        for steered in (False, True):
            a, b = onnx_decode(0, steered)(), torch_decode(0, steered)()
            same = a["tokens"] == b["tokens"]
            agree = next((i for i, (x, y) in enumerate(zip(a["tokens"], b["tokens"])) if x != y), len(a["tokens"]))
            n = len(a["tokens"])
            verdict = "identical" if same else f"first {agree} of {n} identical"
            checks.append(f"{'steered' if steered else 'vanilla'} greedy tokens: {verdict}")
            ok &= same
        a, b = onnx_profile(0)(), torch_profile(0)()
        units = sum(len(s) for s in a["positive"])
        equal = sum(1 for s in range(len(a["positive"])) for u in range(len(a["positive"][s]))
                    if a["positive"][s][u] == b["positive"][s][u] and a["negative"][s][u] == b["negative"][s][u])
        worst = max(abs(a["positive"][s][u] - b["positive"][s][u]) for s in range(len(a["positive"])) for u in range(len(a["positive"][s])))
        checks.append(f"momentum counts on {a['pairs']} pairs: {equal} of {units} units identical (largest difference {worst} pair(s))")
        ok &= equal >= 0.99 * units
        add(f"### {label}")
        add("")
        add("Checks before timing: " + "; ".join(checks) + ("." if ok else " — **check failed: no timing for this model**."))
        add("")
        if not ok:
            summary.append((key, None))
            continue

        say(f"{key}: {args.rounds} rounds of profiling")
        prof = interleave({
            "onnx-default": onnx_profile(0), "torch-default": torch_profile(0),
            "onnx-equal": onnx_profile(equal_threads), "torch-equal": torch_profile(equal_threads),
        }, args.rounds)
        dec = None
        if not profile_only:
            say(f"{key}: {args.rounds} rounds of steered decoding")
            dec = interleave({
                "onnx-default": onnx_decode(0), "torch-default": torch_decode(0),
                "onnx-equal": onnx_decode(equal_threads), "torch-equal": torch_decode(equal_threads),
            }, args.rounds)

        def ratios(results, a, b, field, invert=False):
            xs = [(y[field] / x[field]) if invert else (x[field] / y[field]) for x, y in zip(results[a], results[b])]
            return xs

        add(f"{a['pairs']} pairs, {args.new_tokens} new tokens after a {len(json.load(open(job))['prompt'])}-token prompt, steering of k={len(json.load(open(job))['steer'])} units.")
        add("")
        add("| threads (OnnxSteer / PyTorch) | OnnxSteer pairs/s | PyTorch pairs/s | **profiling pairs/s ratio** | whole profiling run, time ratio (PyTorch / OnnxSteer) | OnnxSteer steered tok/s | PyTorch steered tok/s | **decode ratio** |")
        add("|---|---|---|---|---|---|---|---|")
        row = {}
        for mode in ("default", "equal"):
            o, t = f"onnx-{mode}", f"torch-{mode}"
            pr = ratios(prof, o, t, "steady_pairs_per_s")
            wr = ratios(prof, o, t, "wall_s", invert=True)
            dr = ratios(dec, o, t, "decode_tokens_per_s") if dec else None
            row[mode] = (statistics.median(pr), statistics.median(dr) if dr else None)
            decode = (f"{statistics.median(x['decode_tokens_per_s'] for x in dec[o]):.1f} | {statistics.median(x['decode_tokens_per_s'] for x in dec[t]):.1f} | {median_range(dr)}"
                      if dec else "— | — | — (the ~100M model's)")
            add(f"| {mode}: {prof[o][0]['threads']} / {prof[t][0]['threads']} | {statistics.median(x['steady_pairs_per_s'] for x in prof[o]):.2f} | "
                f"{statistics.median(x['steady_pairs_per_s'] for x in prof[t]):.2f} | {median_range(pr)} | {median_range(wr)} | {decode} |")
        add("")
        summary.append((key, row))

        if not args.skip_patch and not profile_only:
            say(f"{key}: {args.rounds} rounds of patch vs the python-onnx script")
            out_b = os.path.join(folder, "patch-py")

            def cli_patch(label, command):
                out = os.path.join(folder, "patch-" + label)

                def f():
                    shutil.rmtree(out, ignore_errors=True)
                    return run(command + ["patch", model, profile, "-o", out])[1]
                return f

            def py_patch():
                shutil.rmtree(out_b, ignore_errors=True)
                return run([PY, os.path.join(HERE, "patch_script.py"), model, profile, out_b])[1]

            contenders = {label: cli_patch(label, command) for label, command in patch_clis}
            contenders["py"] = py_patch
            for f in contenders.values():
                f()  # warm the page cache for all
            pt = interleave(contenders, max(5, args.rounds))
            k = len(json.load(open(job))['steer'])
            for label, command in patch_clis:
                r = [p / c for c, p in zip(pt[label], pt["py"])]
                add(f"Patch (k={k}, external data): `{' '.join(command)} patch` ({label}) {statistics.median(pt[label]):.3f} s, "
                    f"python-onnx script (graph without weights, Muls inserted, data hard-linked) {statistics.median(pt['py']):.3f} s; "
                    f"script time / onnxsteer time {median_range(r)} (> 1: onnxsteer faster), {len(r)} interleaved rounds, wall time of each process.")
                add("")
                summary.append((f"{key}-patch-{label}", statistics.median(r)))
    add("Load average (1, 5, 15 min) at the end: " + " ".join(open("/proc/loadavg").read().split()[:3]) + ".")
    add("")
    with open(args.report, "a") as f:
        f.write("\n".join(lines) + "\n")
    json.dump(summary, sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
