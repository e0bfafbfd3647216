"""The PyTorch side and the report of the GPU benchmark (test/bench/gpu.sh).

usage (gpu.sh calls these; WORK is its work folder):
  python3 gpu_torch.py prepare WORK --w1-max N --tfm-max B
      the model files (the peers' $PEER_MODEL_DIR/<model>.safetensors when there, else
      generated exactly as the peers' models.py does: models.build(name), seed 0, written with
      the peers' st.write), the WordPiece vocabulary shared by W3 and W4 (vocab.txt), the W3 /
      W4 texts and their token ids (w3_text.csv, w3_ids.csv, w4_*.csv), models.json
  python3 gpu_torch.py bench WORK --device cuda|cpu --precisions fp32,bf16 --w1 4096,65536
                       --tfm 64,512 [--warmup 2 --runs 7]
      times the workloads in PyTorch, one JSON line per (workload, batch, precision) into
      WORK/torch.jsonl, and the float32 outputs of the largest batches as the references the SQL
      side checks itself against (w1_ref.csv, w3_ref.csv, w4_ref.csv)
  python3 gpu_torch.py report WORK
      the table: torch.jsonl + sql.txt (written by gpu.sh --sql) + machine.txt

The models are the peers' (imported from their models.py: RNNForecast for W1, TextClassifier
for W3, GPTScorer for W4); nothing of them is copied here.  The peers' folder is $PEERS_SRC,
else ../shared/peers beside the repository, /work/shared/peers or .gpu/peers in it.

Inputs, the same on both sides:
  W1  x[s, t] = sin(0.1 t + 0.37 s) + 0.3 sin(0.023 t (1 + s mod 5)), computed in float64 and
      rounded to float32, s < series, t < 168 (gpu.sh computes the same in SQL);
  W3  [CLS] + 126 random ids in [5, 8000) + [SEP] (128 tokens), W4 the same with 254 ids (256
      tokens), written as texts "w17 w5230 ..." whose WordPiece tokenization (vocab.txt: [PAD]
      [UNK] [CLS] [SEP] [MASK], then "w5" .. "w7999") gives exactly those ids.
Timing: torch.inference_mode(), each run from the CPU input tensor to the output back on the
CPU (x.to(device), the model, .cpu(): the copies seqmodel's SQL path makes too), after warm-up
runs; the median.  fp32: TF32 off for matmul and cuDNN (pedantic float32, as seqmodel's fp32);
tf32: on; bf16: torch.autocast(dtype=torch.bfloat16) with TF32 off.
"""
import argparse
import copy
import csv
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def peers_dir():
    cands = [os.environ.get("PEERS_SRC", ""), os.path.join(ROOT, "..", "shared", "peers"),
             "/work/shared/peers", os.path.join(ROOT, ".gpu", "peers")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "models.py")):
            return os.path.abspath(c)
    sys.exit("gpu_torch.py: the peers' models.py was not found (set PEERS_SRC; tried "
             + ", ".join(c for c in cands if c) + ")")


T_W1 = 168
LEN = {"W3_encoder": 128, "W4_gpt_score": 256}
MODEL = {"W1_lstm": "lstm_forecast", "W3_encoder": "text_encoder", "W4_gpt_score": "gpt_scorer"}
VOCAB = 8000
FIRST_WORD = 5          # ids 0..4: [PAD] [UNK] [CLS] [SEP] [MASK]
CLS, SEP = 2, 3


# ---------------------------------------------------------------- inputs
def w1_input(np, series):
    s = np.arange(series, dtype=np.float64)[:, None]
    t = np.arange(T_W1, dtype=np.float64)[None, :]
    x = np.sin(0.1 * t + 0.37 * s) + 0.3 * np.sin(0.023 * t * (1 + s % 5))
    return x.astype(np.float32)[:, :, None]          # [series, 168, 1]


def token_ids(torch, workload, batch):
    """[batch, L] int64: [CLS] + random word ids + [SEP]; row b does not depend on batch."""
    L = LEN[workload]
    g = torch.Generator().manual_seed(1 if workload == "W3_encoder" else 2)
    body = torch.randint(FIRST_WORD, VOCAB, (batch, L - 2), generator=g, dtype=torch.int64)
    return torch.cat([torch.full((batch, 1), CLS), body, torch.full((batch, 1), SEP)], dim=1)


# ---------------------------------------------------------------- prepare
def prepare(a):
    import torch
    sys.path.insert(0, peers_dir())
    import models
    import st
    work = a.work
    os.makedirs(os.path.join(work, "models"), exist_ok=True)
    peer_dir = os.environ.get("PEER_MODEL_DIR", "/tmp/peer-models")
    info = {}
    for wl, name in MODEL.items():
        p = os.path.join(peer_dir, name + ".safetensors")
        if os.path.isfile(p):
            info[name] = {"path": os.path.abspath(p), "source": "peers' file " + p}
            continue
        p = os.path.join(work, "models", name + ".safetensors")
        if not os.path.isfile(p):
            model = models.build(name)            # torch.manual_seed(models.SEED), as models.py
            st.write(p, {k: v.detach().numpy() for k, v in model.state_dict().items()},
                     {"format": "pt", "model": name, "seed": models.SEED})
        info[name] = {"path": os.path.abspath(p), "source": "generated (models.build, seed %d)" % models.SEED}
    with open(os.path.join(work, "models.json"), "w") as f:
        json.dump(info, f, indent=1)
    with open(os.path.join(work, "vocab.txt"), "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
        f.write("".join("w%d\n" % i for i in range(FIRST_WORD, VOCAB)))
    for wl, tag in (("W3_encoder", "w3"), ("W4_gpt_score", "w4")):
        ids = token_ids(torch, wl, a.tfm_max).tolist()
        with open(os.path.join(work, tag + "_text.csv"), "w", newline="") as f:
            w = csv.writer(f)
            for i, row in enumerate(ids):
                w.writerow([i, " ".join("w%d" % t for t in row[1:-1])])
        with open(os.path.join(work, tag + "_ids.csv"), "w", newline="") as f:
            w = csv.writer(f)
            for i, row in enumerate(ids):
                w.writerow([i, "{" + ",".join(map(str, row)) + "}"])
    for name, v in info.items():
        print("  %-14s %s" % (name, v["source"]))


# ---------------------------------------------------------------- bench
def bench(a):
    import numpy as np
    import torch
    sys.path.insert(0, peers_dir())
    import models
    import st

    work = a.work
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_torch.py: --device cuda but torch.cuda.is_available() is False")
    if dev.type == "cpu":
        torch.set_num_threads(a.threads or os.cpu_count() or 1)
    info = json.load(open(os.path.join(work, "models.json")))
    out = open(os.path.join(work, "torch.jsonl"), "w")
    desc = "torch %s on %s" % (torch.__version__, torch.cuda.get_device_name(0) if dev.type == "cuda" else
                               "cpu (%d threads)" % torch.get_num_threads())
    if dev.type == "cuda":
        desc += ", CUDA %s, cuDNN %s" % (torch.version.cuda, torch.backends.cudnn.version())
    out.write(json.dumps({"info": desc}) + "\n")
    print("  " + desc, flush=True)

    def load(name):
        model = models.MODELS[name]().eval()
        w, _ = st.read(info[name]["path"])
        model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()}, strict=True)
        return model.to(dev)

    def set_tf32(on):
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on

    def run_once(model, x, prec, mode):
        with torch.inference_mode():
            if mode == "autocast":
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
                    y = model(x.to(dev))
            elif mode == "cast":        # a bfloat16 copy of the model, float inputs in bfloat16
                xd = x.to(dev)
                y = model(xd.to(torch.bfloat16) if xd.is_floating_point() else xd)
            else:
                y = model(x.to(dev))
            return y.float().cpu()          # .cpu() waits for the device

    def timed(model, x, prec, warmup, runs):
        set_tf32(prec == "tf32")
        mode, note = ("autocast" if prec == "bf16" else "plain"), None
        try:
            y = run_once(model, x, prec, mode)
        except RuntimeError as e:
            if mode != "autocast":
                raise
            # e.g. torch 1.13's CPU encoder fast path under autocast: a bfloat16 copy instead
            note = "autocast failed (%s): bfloat16 weights instead" % str(e).splitlines()[0][:80]
            mode, model = "cast", copy.deepcopy(model).to(torch.bfloat16)
            y = run_once(model, x, prec, mode)
        for _ in range(warmup - 1):
            y = run_once(model, x, prec, mode)
        if dev.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            y = run_once(model, x, prec, mode)
            ts.append((time.perf_counter() - t0) * 1e3)
        peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
        return y, ts, peak, note

    plan = [("W1_lstm", b) for b in a.w1] + [("W3_encoder", b) for b in a.tfm] + [("W4_gpt_score", b) for b in a.tfm]
    models_on_dev = {}
    for wl, batch in plan:
        name = MODEL[wl]
        try:
            if name not in models_on_dev:
                models_on_dev.clear()
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                models_on_dev[name] = load(name)
            model = models_on_dev[name]
            x = (torch.from_numpy(w1_input(np, batch)) if wl == "W1_lstm"
                 else token_ids(torch, wl, max(a.tfm))[:batch].contiguous())
        except Exception as e:  # noqa: BLE001 -- report and go on
            for prec in a.precisions:
                out.write(json.dumps({"workload": wl, "batch": batch, "precision": prec,
                                      "error": "setup: %s" % e}) + "\n")
            print("  %-13s %6d  setup failed: %s" % (wl, batch, e), flush=True)
            continue
        ref = None
        for prec in a.precisions:
            rec = {"workload": wl, "batch": batch, "precision": prec, "device": str(dev)}
            warmup, runs = a.warmup, a.runs
            if prec != "fp32" and a.lowprec_smallest_only:
                if batch != min(a.w1 if wl == "W1_lstm" else a.tfm):
                    rec["skipped"] = "%s at the smallest batch only (--lowprec-smallest-only)" % prec
                    out.write(json.dumps(rec) + "\n")
                    continue
                warmup, runs = 1, 1
            try:
                y, ts, peak, note = timed(model, x, prec, warmup, runs)
                rec.update(median_ms=statistics.median(ts), min_ms=min(ts), runs=len(ts), times_ms=ts)
                if note:
                    rec["note"] = note
                if peak is not None:
                    rec["peak_mib"] = peak
                if prec == "fp32":
                    ref = y
                elif ref is not None:
                    rec["err_vs_fp32"] = float((y - ref).abs().max() / ref.abs().max())
                print("  %-13s %6d %-5s median %10.3f ms  min %10.3f ms%s%s" % (
                    wl, batch, prec, rec["median_ms"], rec["min_ms"],
                    "  peak %.0f MiB" % peak if peak is not None else "",
                    "  rel err vs fp32 %.1e" % rec["err_vs_fp32"] if "err_vs_fp32" in rec else ""), flush=True)
            except Exception as e:  # noqa: BLE001
                rec["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
                print("  %-13s %6d %-5s failed: %s" % (wl, batch, prec, rec["error"]), flush=True)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
            out.write(json.dumps(rec) + "\n")
            out.flush()
        # references: the float32 outputs of the largest batch measured (row b is the same
        # input in every batch, so a smaller one serves if a larger one fails)
        if ref is not None:
            r = ref.double()
            if wl == "W1_lstm":
                rows = [[i, repr(float(v))] for i, v in enumerate(r[:, 0].tolist())]
                fname = "w1_ref.csv"
            elif wl == "W3_encoder":
                p = torch.softmax(r, dim=-1)       # seqmodel's classify gives probabilities
                rows = [[i] + [repr(float(v)) for v in row] for i, row in enumerate(p.tolist())]
                fname = "w3_ref.csv"
            else:
                rows = [[i, repr(float(v))] for i, v in enumerate(r.tolist())]
                fname = "w4_ref.csv"
            with open(os.path.join(work, fname), "w", newline="") as f:
                csv.writer(f).writerows(rows)
    out.close()


# ---------------------------------------------------------------- report
def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def table(head, rows):
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    left = lambda i: i < 3 or i == len(head) - 1 and head[i] == "note"
    line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) if left(i) else str(c).rjust(w[i]) for i, c in enumerate(r)) + " |"
    return "\n".join([line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(r) for r in rows])


def report(a):
    work = a.work
    torch_rows, torch_info = {}, []
    p = os.path.join(work, "torch.jsonl")
    if os.path.isfile(p):
        for line in open(p):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "info" in r:
                torch_info.append(r["info"])
            else:
                torch_rows[(r["workload"], int(r["batch"]), r["precision"])] = r
    times, dev, err, inp, agree, notes, info, conc, mem = {}, {}, {}, {}, {}, [], [], [], []
    p = os.path.join(work, "sql.txt")
    for line in (open(p) if os.path.isfile(p) else []):
        f = line.split()
        if not f:
            continue
        k = f[0]
        try:
            if k == "time" and len(f) == 6:
                times.setdefault(tuple(f[1:5]), []).append(float(f[5]))
            elif k == "dev" and len(f) == 8:
                dev[tuple(f[1:5])] = (int(f[5]), int(f[6]), int(f[7]))
            elif k == "err" and len(f) >= 6:
                err[tuple(f[1:5])] = float(f[5])
            elif k == "input" and len(f) == 4:
                inp.setdefault((f[1], f[2]), []).append(float(f[3]))
            elif k == "agree" and len(f) == 4:
                agree[(f[1], f[2])] = float(f[3])
            elif k == "note":
                notes.append(line[5:].rstrip())
            elif k == "info":
                info.append(line[5:].rstrip())
            elif k == "conc":
                conc.append(line[5:].rstrip())
            elif k == "mem":
                mem.append(line[4:].rstrip())
        except ValueError:
            notes.append("unparsed sql.txt line: " + line.rstrip())
    med = lambda xs: statistics.median(xs) if xs else None
    gpu_dev = a.gpu_device

    print("== GPU benchmark: seqmodel (SQL, seqmodel.device = %s) against PyTorch (%s)" % (
        gpu_dev, ", ".join(torch_info) or "no result"))
    p = os.path.join(work, "machine.txt")
    if os.path.isfile(p):
        print(open(p).read().rstrip())
    for i in info:
        print("seqmodel: " + i)
    print()
    rows = []
    keys = sorted({(w, int(b), pr) for (w, b, pr) in torch_rows} |
                  {(w, int(b), pr) for (w, b, pr, d) in times if w.startswith("W")},
                  key=lambda k: (k[0], k[1], ["fp32", "tf32", "bf16"].index(k[2]) if k[2] in ("fp32", "tf32", "bf16") else 9))
    for w, b, pr in keys:
        t = torch_rows.get((w, b, pr), {})
        sm = med(times.get((w, str(b), pr, gpu_dev), []))
        tm = t.get("median_ms")
        d = dev.get((w, str(b), pr, gpu_dev))
        e = err.get((w, str(b), pr, gpu_dev))
        i = med(inp.get((w, str(b)), []))
        rows.append([w, b, pr, fmt(sm), fmt(tm), fmt(tm / sm if sm and tm else None),
                     fmt(i), fmt(e, "%.1e"), "-" if d is None else "%d/%d" % (d[0], d[1]),
                     fmt(t.get("err_vs_fp32"), "%.1e"), fmt(t.get("peak_mib"), "%.0f"),
                     "; ".join("torch: " + t[k][:90] for k in ("error", "skipped", "note") if k in t)])
    print(table(["workload", "batch", "precision", "seqmodel ms", "torch ms", "ratio",
                 "input ms", "sm err", "gpu prod/fb", "torch err", "torch MiB", "note"], rows))
    print("ratio = torch ms / seqmodel ms (> 1: seqmodel faster).  seqmodel ms: one SQL statement, server-side,\n"
          "  the rows read from a table; input ms: that statement's input alone (W1: the series query; W3/W4:\n"
          "  tokenizing the texts); sm err: seqmodel's normwise relative error against PyTorch's fp32 output;\n"
          "  gpu prod/fb: products the session ran on the GPU / computed on the CPU after a GPU error;\n"
          "  torch err: PyTorch's own error against its fp32; torch MiB: its peak CUDA allocation")
    print()
    rows = []
    for kind in ("e2e_fq", "e2e_score"):
        ks = sorted({(k[1]) for k in times if k[0] == kind})
        for n in ks:
            c = med(times.get((kind, n, "fp32", "cpu"), []))
            g = med(times.get((kind, n, "fp32", gpu_dev), [])) if gpu_dev != "cpu" else None
            what = "forecast_query (LSTM W1, horizon 24)" if kind == "e2e_fq" else "score_query (W3 classify)"
            d = dev.get((kind, n, "fp32", gpu_dev)) if gpu_dev != "cpu" else None
            rows.append([what, n, "fp32", fmt(c), fmt(g), fmt(c / g if c and g else None),
                         fmt(agree.get((kind, n)), "%.1e"), "-" if d is None else "%d/%d" % (d[0], d[1])])
    print(table(["end to end (SQL)", "rows", "precision", "cpu ms", "%s ms" % ("cuda" if gpu_dev != "cpu" else "cuda (DRY: none)"),
                 "speedup", "cuda vs cpu diff", "gpu prod/fb"], rows))
    print("speedup = cpu ms / cuda ms, seqmodel.threads = %s in both; cuda vs cpu diff: on a subset, relative"
          " (forecasts) or absolute (probabilities)" % (os.environ.get("THREADS") or "nproc"))
    if conc or mem:
        print()
        for c in conc:
            print("concurrency: " + c)
        for m in mem:
            print("gpu memory: " + m)
    if notes:
        print()
        for n in notes:
            print("note: " + n)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("work")
    p.add_argument("--w1-max", type=int, required=True)
    p.add_argument("--tfm-max", type=int, required=True)
    p = sub.add_parser("bench")
    p.add_argument("work")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precisions", type=lambda s: s.split(","), default=["fp32", "bf16"])
    p.add_argument("--w1", type=lambda s: sorted(int(x) for x in s.split(",") if x), default=[4096, 65536])
    p.add_argument("--tfm", type=lambda s: sorted(int(x) for x in s.split(",") if x), default=[64, 512])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--lowprec-smallest-only", action="store_true",
                   help="tf32/bf16 at each workload's smallest batch only, one warm-up and one run (DRY on a CPU)")
    p = sub.add_parser("report")
    p.add_argument("work")
    p.add_argument("--gpu-device", default="cuda")
    a = ap.parse_args()
    {"prepare": prepare, "bench": bench, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()
