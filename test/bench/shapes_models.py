"""Own shapes for test/bench/shapes.sh: recurrent and transformer models of sizes we choose,
in the file formats of the peers' models.py, so that the peers' own timing scripts
(peers_torch.py, peers_ort.js) and bench_shapes.c run them unchanged.

shapes.sh copies this file into its work folder as `models.py`, beside the peers' scripts and
the peers' models.py copied as `peer_models.py`: peers_torch.py then imports this module as
`models` and finds what it uses there (MODELS, WORKLOADS, timing, MODEL_DIR).  The model
classes and FLOP formulas of the transformers are the peers' own (peer_models.TextClassifier,
GPTScorer, encoder_flops, gpt_flops), so their state_dict names are those the standard
workloads use; the recurrent model is the peers' RNNForecast with an input width of its own.

    /usr/bin/python3 models.py [write]          write the models missing under MODEL_DIR, and
                                                workloads.json (always)
    /usr/bin/python3 models.py list             the workload names, in table order
    /usr/bin/python3 models.py report RESULTS.jsonl   the table of a shapes.sh run

Files per model under MODEL_DIR ($PEER_MODEL_DIR, default /tmp/seqmodel-shapes-models), as
the peers' models.py writes them: <model>.safetensors (PyTorch state_dict names),
<model>.io.safetensors ("input", PyTorch's "output" on it), <model>.onnx (opset 14, dynamic
batch and sequence axes, exported at the model's own sequence length), and workloads.json
(the peers' schema, plus "arch" and "config": how bench_shapes.c builds the model in
seqmodel's engine, and "out": which output it checks).  One model per (architecture, sequence
length), since the .io file fixes the length; its batch-1 workloads take row 0 of its input,
as the peers' W5 workloads do.  Weights are random with a fixed seed per model
(torch.manual_seed(SEED) before building), so the files are reproducible byte for byte.
"""
import importlib.util
import json
import math
import os
import statistics
import sys
from collections import defaultdict

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.environ.get("PEER_MODEL_DIR", "/tmp/seqmodel-shapes-models")
SEED = 0
OPSET = 14
VOCAB = 8000
RNN_INPUT = 8          # input width of the recurrent models (a multivariate series)


def _peer(name):
    """The peers' module NAME: beside this file (shapes.sh's copies), else in $PEERS_SRC."""
    try:
        return __import__(name)
    except ImportError:
        src = os.environ.get("PEERS_SRC", "/work/shared/peers")
        fname = {"peer_models": "models.py", "st": "st.py"}[name]
        spec = importlib.util.spec_from_file_location(name, os.path.join(src, fname))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod


pm = _peer("peer_models")


# ---------------------------------------------------------------- the recurrent model
class RNNForecast(nn.Module):
    """The peers' RNNForecast with an input width: x [B, T, I] -> LSTM/GRU (hidden H, L layers)
    -> Linear(H, 1) on the last step -> [B, 1].  state_dict: <cell>.weight_ih_l0 ..., head.*"""

    def __init__(self, cell, hidden, layers, input_size=RNN_INPUT):
        super().__init__()
        self.cell = cell
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        setattr(self, cell, rnn(input_size=input_size, hidden_size=hidden, num_layers=layers,
                                batch_first=True))
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = getattr(self, self.cell)(x)
        return self.head(out[:, -1])


# ---------------------------------------------------------------- the shapes
# model families: name -> (builder, input kind, seqmodel arch, seqmodel config, what to check,
# flops(batch, length))
def _rnn(cell, H, L):
    cfg = {"input_size": RNN_INPUT, "hidden_size": H, "num_layers": L, "output_size": 1,
           "rnn_prefix": cell + ".", "head_prefix": "head."}
    gates = 4 if cell == "lstm" else 3
    return (lambda: RNNForecast(cell, H, L), "series", cell, cfg, "last",
            lambda b, t: pm.rnn_flops(b, t, gates, I=RNN_INPUT, H=H, layers=L))


def _enc(d, heads, ffn, L):
    cfg = {"vocab_size": VOCAB, "d_model": d, "nhead": heads, "dim_feedforward": ffn,
           "num_layers": L, "activation": "gelu", "positional": "learned", "max_len": 512,
           "embedding_prefix": "embed.", "position_prefix": "pos.", "pooling": "mean",
           "output_size": 2, "head_prefix": "classifier."}
    return (lambda: pm.TextClassifier(vocab=VOCAB, d=d, heads=heads, ffn=ffn, layers=L, max_len=512),
            "tokens", "transformer", cfg, "sequence",
            lambda b, n: pm.encoder_flops(b, n, d=d, ffn=ffn, layers=L))


def _gpt(d, heads, ffn, L):
    cfg = {"vocab_size": VOCAB, "n_positions": 1024, "n_embd": d, "n_layer": L, "n_head": heads,
           "n_inner": ffn, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "conv1d": False}
    return (lambda: pm.GPTScorer(vocab=VOCAB, d=d, heads=heads, layers=L, ffn=ffn, max_len=1024),
            "tokens", "gpt2", cfg, "logprob",
            lambda b, n: pm.gpt_flops(b, n, vocab=VOCAB, d=d, ffn=ffn, layers=L))


FAMILIES = {
    "lstm_h32_l1": _rnn("lstm", 32, 1),
    "lstm_h128_l1": _rnn("lstm", 128, 1),
    "lstm_h256_l3": _rnn("lstm", 256, 3),
    "gru_h128_l1": _rnn("gru", 128, 1),
    "enc_d128_l2": _enc(128, 4, 512, 2),      # 4 heads of 32
    "enc_d512_l4": _enc(512, 8, 2048, 4),     # 8 heads of 64
    "gpt_d256_l4": _gpt(256, 4, 1024, 4),     # 4 heads of 64, tied LM head over 8000 tokens
}


class Batch(int):
    """A batch size that carries its workload's (warm-up, timed) run counts, so that
    peers_torch.py's models.timing(batch) gets the same counts as workloads.json (which
    peers_ort.js and bench_shapes read) although two workloads of one batch size differ."""

    def __new__(cls, n, warmup, runs):
        b = super().__new__(cls, n)
        b.counts = (warmup, runs)
        return b


# the workloads, in table order: name -> (family, sequence length, batch, warm-up, timed runs).
# Run counts: ~1-3 s of timed runs for seqmodel at 1 thread, at least 5 runs.
_SHAPES = [
    # recurrent: batch 1 (latency) at T 24 and 512, then batch 1024 (throughput)
    ("lstm_h32_l1_t24_b1",      "lstm_h32_l1",   24,    1, 20, 200),
    ("lstm_h128_l1_t24_b1",     "lstm_h128_l1",  24,    1, 20, 200),
    ("lstm_h256_l3_t24_b1",     "lstm_h256_l3",  24,    1, 10, 100),
    ("gru_h128_l1_t24_b1",      "gru_h128_l1",   24,    1, 20, 200),
    ("lstm_h128_l1_t512_b1",    "lstm_h128_l1", 512,    1, 10, 100),
    ("lstm_h256_l3_t512_b1",    "lstm_h256_l3", 512,    1, 5, 30),
    ("lstm_h32_l1_t512_b1024",  "lstm_h32_l1",  512, 1024, 2, 7),
    ("lstm_h128_l1_t512_b1024", "lstm_h128_l1", 512, 1024, 1, 5),
    ("lstm_h256_l3_t24_b1024",  "lstm_h256_l3",  24, 1024, 1, 5),
    ("gru_h128_l1_t512_b1024",  "gru_h128_l1",  512, 1024, 1, 5),
    # transformer encoder classifier: d 128 / 2 layers and d 512 / 4 layers, L 32 and 512
    ("enc_d128_l2_s32_b1",      "enc_d128_l2",   32,    1, 20, 200),
    ("enc_d128_l2_s32_b32",     "enc_d128_l2",   32,   32, 5, 50),
    ("enc_d128_l2_s512_b1",     "enc_d128_l2",  512,    1, 5, 50),
    ("enc_d128_l2_s512_b32",    "enc_d128_l2",  512,   32, 2, 7),
    ("enc_d512_l4_s32_b1",      "enc_d512_l4",   32,    1, 10, 100),
    ("enc_d512_l4_s32_b32",     "enc_d512_l4",   32,   32, 2, 7),
    ("enc_d512_l4_s512_b1",     "enc_d512_l4",  512,    1, 2, 7),
    # GPT-2-style scorer (sum of next-token log-probabilities)
    ("gpt_d256_l4_s64_b1",      "gpt_d256_l4",   64,    1, 10, 50),
    ("gpt_d256_l4_s256_b8",     "gpt_d256_l4",  256,    8, 2, 7),
]


def _model_name(family, length):
    return f"{family}_{'t' if FAMILIES[family][1] == 'series' else 's'}{length}"


# what peers_torch.py reads: MODELS (model -> builder), WORKLOADS (workload -> (model, batch,
# length, input kind, flops(batch, length))), timing(batch)
MODELS = {}
WORKLOADS = {}
MODEL_INFO = {}        # model -> (family, length, batch of its .io file)
for _wl, _fam, _len, _b, _w, _r in _SHAPES:
    _m = _model_name(_fam, _len)
    MODELS[_m] = FAMILIES[_fam][0]
    WORKLOADS[_wl] = (_m, Batch(_b, _w, _r), _len, FAMILIES[_fam][1], FAMILIES[_fam][5])
    MODEL_INFO[_m] = (_fam, _len, max(_b, MODEL_INFO.get(_m, (0, 0, 0))[2]))


def timing(batch):
    """(warm-up runs, timed runs) of a workload's batch (a Batch); the peers' rule otherwise."""
    return getattr(batch, "counts", (10, 100) if batch == 1 else (2, 7))


def build(model_name):
    torch.manual_seed(SEED)
    return MODELS[model_name]().eval()


def make_input(kind, batch, length, seed=SEED + 1):
    g = torch.Generator().manual_seed(seed)
    if kind == "series":
        return torch.randn(batch, length, RNN_INPUT, generator=g)
    return torch.randint(0, VOCAB, (batch, length), generator=g, dtype=torch.int64)


def write_workloads():
    os.makedirs(MODEL_DIR, exist_ok=True)
    specs = {}
    for wl, (m, b, n, kind, flops) in WORKLOADS.items():
        fam = MODEL_INFO[m][0]
        _, _, arch, cfg, out, _ = FAMILIES[fam]
        specs[wl] = {"model": m, "batch": int(b), "len": n, "input": kind, "flops": flops(b, n),
                     "warmup": timing(b)[0], "runs": timing(b)[1],
                     "arch": arch, "config": json.dumps(cfg), "out": out}
    tmp = os.path.join(MODEL_DIR, "workloads.json.tmp")
    with open(tmp, "w") as f:
        json.dump(specs, f, indent=1)
    os.replace(tmp, os.path.join(MODEL_DIR, "workloads.json"))


def write_model(name):
    import numpy as np
    st = _peer("st")
    fam, length, batch = MODEL_INFO[name]
    model = build(name)
    x = make_input(FAMILIES[fam][1], batch, length)
    sd = model.state_dict()
    path = lambda ext: os.path.join(MODEL_DIR, name + ext)  # noqa: E731
    st.write(path(".safetensors"), {k: v.detach().numpy() for k, v in sd.items()},
             {"format": "pt", "model": name, "seed": SEED})
    with torch.inference_mode():
        y = model(x)
    # the .onnx last: shapes.sh takes a model as written when its .onnx is there
    st.write(path(".io.safetensors"), {"input": x.numpy(), "output": y.numpy()}, {"model": name})
    # with grad enabled, so nn.TransformerEncoderLayer takes its exportable (slow) path
    torch.onnx.export(model, (x[:2],), path(".onnx.tmp"),
                      input_names=["input"], output_names=["output"], opset_version=OPSET,
                      dynamic_axes={"input": {0: "batch", 1: "seq"}, "output": {0: "batch"}},
                      do_constant_folding=True)
    os.replace(path(".onnx.tmp"), path(".onnx"))
    n_params = sum(int(np.prod(v.shape)) for v in sd.values())
    print(f"{name}: {len(sd)} tensors, {n_params} parameters, input {tuple(x.shape)}, "
          f"output {tuple(y.shape)}", flush=True)


def write_all(force=False):
    write_workloads()
    for name in MODELS:
        if force or not all(os.path.exists(os.path.join(MODEL_DIR, name + e))
                            for e in (".safetensors", ".io.safetensors", ".onnx")):
            write_model(name)


# ---------------------------------------------------------------- the report
IMPLS = [("seqmodel-engine", "seqmodel"), ("pytorch", "pytorch"), ("onnxruntime", "ort")]
ACC_TOL = 1e-4


def report(path):
    runs = defaultdict(list)    # (workload, threads, impl) -> [median ms per round]
    errs = defaultdict(list)    # (workload, threads, impl) -> [normwise rel err]
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            key = (r["workload"], int(r["threads"]), r.get("impl") or r.get("peer"))
            runs[key].append(float(r["median_ms"]))
            ref = float(r.get("max_abs_ref") or 0)
            errs[key].append(float(r["max_abs_err"]) / ref if ref else float(r["max_abs_err"]))
    order = list(WORKLOADS)
    keys = sorted({(wl, t) for wl, t, _ in runs},
                  key=lambda k: (k[1], order.index(k[0]) if k[0] in order else len(order), k[0]))
    fmt = lambda v: "-" if v is None else (f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 10 else f"{v:.1f}")  # noqa: E731
    w = max([len(k[0]) for k in keys] + [5])
    hdr = (f"{'shape':<{w}} {'thr':>3} {'seqmodel ms':>11} {'pytorch ms':>10} {'ort ms':>9}"
           f" {'best peer':>9} {'ratio':>6} {'GFLOP/s':>7} {'max rel err':>11} {'rounds':>6}")
    print(hdr)
    print("-" * len(hdr))
    ratios = defaultdict(list)
    for wl, t in keys:
        med = {s: (statistics.median(runs[(wl, t, i)]) if runs.get((wl, t, i)) else None)
               for i, s in IMPLS}
        peers = {p: med[p] for p in ("pytorch", "ort") if med[p] is not None}
        best = min(peers, key=peers.get) if peers else None
        sm = med["seqmodel"]
        ratio = peers[best] / sm if (best and sm) else None
        if ratio:
            ratios[t].append(ratio)
        flops = WORKLOADS[wl][4](WORKLOADS[wl][1], WORKLOADS[wl][2]) if wl in WORKLOADS else None
        gf = f"{flops / (sm * 1e-3) * 1e-9:.1f}" if (sm and flops) else "-"
        e = max((max(errs[(wl, t, i)]) for i, _ in IMPLS if errs.get((wl, t, i))), default=None)
        n = "/".join(str(len(runs.get((wl, t, i), []))) for i, _ in IMPLS)
        print(f"{wl:<{w}} {t:>3} {fmt(sm):>11} {fmt(med['pytorch']):>10} {fmt(med['ort']):>9}"
              f" {best or '-':>9} {(f'{ratio:.2f}' if ratio else '-'):>6} {gf:>7}"
              f" {(f'{e:.1e}' if e is not None else '-'):>11} {n:>6}")
    print("\nms: median over rounds of each run's median (one forward of the whole batch); ratio ="
          " best peer ms / seqmodel ms (> 1: seqmodel faster); GFLOP/s: seqmodel's; max rel err:"
          " worst of the three, normwise max|y - ref| / max|ref| against PyTorch's stored output;"
          " rounds: runs seqmodel/pytorch/ort")
    for t in sorted(ratios):
        rs = ratios[t]
        gm = math.exp(sum(math.log(r) for r in rs) / len(rs))
        print(f"threads {t}: geometric mean ratio {gm:.2f} over {len(rs)} shapes; seqmodel faster"
              f" than the best peer on {sum(r > 1 for r in rs)}, slower on {sum(r < 1 for r in rs)}")
    worst = {s: max((max(v) for k, v in errs.items() if k[2] == i), default=None) for i, s in IMPLS}
    print("worst normwise relative error vs PyTorch's stored output: " +
          ", ".join(f"{s} {worst[s]:.2g}" for _, s in IMPLS if worst[s] is not None))
    bad = 0
    for k, v in sorted(errs.items()):
        if not max(v) < ACC_TOL:
            print(f"ACCURACY FAIL: {k[2]} {k[0]} threads {k[1]}: relative error {max(v):.3g} >= {ACC_TOL:g}")
            bad += 1
    missing = [k for k in keys for i, s in IMPLS if not runs.get((k[0], k[1], i))]
    if missing:
        print(f"missing runs: {len(missing)} (see the log)")
    return bad


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "write"
    if cmd == "write":
        write_all(force="--force" in sys.argv)
    elif cmd == "list":
        print(" ".join(WORKLOADS))
    elif cmd == "report" and len(sys.argv) == 3:
        sys.exit(1 if report(sys.argv[2]) else 0)
    else:
        sys.exit("usage: models.py [write [--force] | list | report RESULTS.jsonl]")
