#!/usr/bin/python3
"""Summarises the recurrent benchmark (test/bench/rnn.sh): reads the JSON lines of
bench_rnn (impl "seqmodel-engine"), peers_torch.py ("pytorch") and peers_ort.js
("onnxruntime"), each tagged with its "round", and prints one table row per
(workload, threads):

  median ms of each impl over the rounds (each round's figure is itself the
  median of that run's timed runs), best peer, ratio = best-peer ms / seqmodel
  ms (a throughput ratio: > 1 means seqmodel is faster), and the issue's target:
    W1_lstm, W2_gru: seqmodel >= 1.3x ONNX Runtime  (ORT ms / seqmodel ms >= 1.3)
    W5_lstm_b1:      seqmodel batch-1 latency <= 0.3 ms

With --sql FILE (lines "fq THREADS MS" and "predict THREADS MS_PER_CALL" from the
SQL section) it also prints the SQL path against the engine:
    forecast_query over W1's 4096 series: SQL ms / engine W1 ms <= 1.1
    predict of one series: <= 0.5 ms per call

usage: rnn_report.py RESULTS.jsonl [--sql SQL.txt]
"""
import json
import statistics
import sys
from collections import defaultdict

IMPLS = [("seqmodel-engine", "seqmodel"), ("pytorch", "pytorch"), ("onnxruntime", "ort")]
TARGET_VS_ORT = {"W1_lstm": 1.3, "W2_gru": 1.3}
TARGET_LATENCY_MS = {"W5_lstm_b1": 0.3}
SQL_BATCH_MAX = 1.1
SQL_PREDICT_MAX_MS = 0.5


def load(path):
    runs = defaultdict(list)  # (workload, threads, impl) -> [median_ms per round]
    errs = defaultdict(list)  # (workload, threads, impl) -> [normwise rel err]
    order = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            impl = r.get("impl") or r.get("peer")
            key = (r["workload"], int(r["threads"]), impl)
            runs[key].append(float(r["median_ms"]))
            if r.get("max_abs_ref"):
                errs[key].append(float(r["max_abs_err"]) / float(r["max_abs_ref"]))
            if (r["workload"], int(r["threads"])) not in order:
                order.append((r["workload"], int(r["threads"])))
    return runs, errs, order


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def main():
    args = sys.argv[1:]
    sql_path = None
    if "--sql" in args:
        i = args.index("--sql")
        sql_path = args[i + 1]
        del args[i:i + 2]
    runs, errs, order = load(args[0])
    order.sort(key=lambda k: (k[1], ["W1_lstm", "W2_gru", "W5_lstm_b1"].index(k[0])
                              if k[0] in ("W1_lstm", "W2_gru", "W5_lstm_b1") else 9))

    med = {k: statistics.median(v) for k, v in runs.items()}
    hdr = (f"{'workload':<11} {'thr':>3} {'seqmodel ms':>12} {'pytorch ms':>11} {'ort ms':>10}"
           f" {'best peer':>10} {'ratio':>6}  {'rounds':>6}  target")
    print(hdr)
    print("-" * (len(hdr) + 28))
    failed = 0
    unmeasured = 0
    engine_ms = {}
    for wl, thr in order:
        cols = {short: med.get((wl, thr, impl)) for impl, short in IMPLS}
        n_rounds = "/".join(str(len(runs.get((wl, thr, impl), []))) for impl, _ in IMPLS)
        peers = {p: cols[p] for p in ("pytorch", "ort") if cols[p] is not None}
        best = min(peers, key=peers.get) if peers else None
        sm = cols["seqmodel"]
        engine_ms[(wl, thr)] = sm
        ratio = peers[best] / sm if (best and sm) else None
        target = ""
        if wl in TARGET_VS_ORT:
            want = TARGET_VS_ORT[wl]
            if sm and cols["ort"]:
                got = cols["ort"] / sm
                ok = got >= want
                failed += not ok
                target = f"vs ORT {got:.2f}x (>= {want}x) {'PASS' if ok else 'FAIL'}"
            else:
                target = f"vs ORT >= {want}x: n/a"
                unmeasured += 1
        elif wl in TARGET_LATENCY_MS:
            want = TARGET_LATENCY_MS[wl]
            if sm:
                ok = sm <= want
                failed += not ok
                target = f"{sm:.3f} ms (<= {want} ms) {'PASS' if ok else 'FAIL'}"
            else:
                target = f"<= {want} ms: n/a"
                unmeasured += 1
        print(f"{wl:<11} {thr:>3} {fmt_ms(sm):>12} {fmt_ms(cols['pytorch']):>11} {fmt_ms(cols['ort']):>10}"
              f" {best or '-':>10} {(f'{ratio:.2f}' if ratio else '-'):>6}  {n_rounds:>6}  {target}")
    print("\nms: median over rounds of each run's median (timed runs per run from workloads.json:"
          " 7 at batch 4096, 100 at batch 1); ratio = best peer ms / seqmodel ms (> 1: seqmodel faster);"
          " rounds = runs seqmodel/pytorch/ort")
    bad = [(k, max(v)) for k, v in errs.items() if max(v) >= 1e-4]
    worst = {impl: max((max(v) for k, v in errs.items() if k[2] == impl), default=None) for impl, _ in IMPLS}
    print("max normwise relative error vs PyTorch's reference output: " +
          ", ".join(f"{short} {worst[impl]:.2g}" for impl, short in IMPLS if worst[impl] is not None))
    for k, v in bad:
        print(f"ACCURACY FAIL: {k[2]} {k[0]} threads {k[1]}: relative error {v:.3g} >= 1e-4")
        failed += 1

    if sql_path:
        sql = defaultdict(list)
        sql_engine = defaultdict(list)  # engine timed alongside the SQL statements
        notes = []
        with open(sql_path) as f:
            for line in f:
                p = line.split()
                if len(p) == 3 and p[0] in ("fq", "predict"):
                    try:
                        sql[(p[0], int(p[1]))].append(float(p[2]))
                    except ValueError:
                        pass
                elif len(p) == 4 and p[0] == "engine":
                    try:
                        sql_engine[(p[1], int(p[2]))].append(float(p[3]))
                    except ValueError:
                        pass
                elif line.startswith("note "):
                    notes.append(line[5:].rstrip())
        print("\nSQL path (throwaway cluster; server-side time of one statement, median of its runs)")
        for n in notes:
            print("  " + n)
        def engine_ref(wl, thr):
            if sql_engine.get((wl, thr)):
                return statistics.median(sql_engine[(wl, thr)])
            return engine_ms.get((wl, thr))
        if sql:
            src = "timed alongside the SQL" if sql_engine else "from the table above"
            print(f"engine ms: bench_rnn's median ({src})")
            print(f"{'what':<34} {'thr':>3} {'SQL ms':>9} {'engine ms':>10} {'SQL/engine':>10}  target")
            for thr in sorted({t for _, t in sql}):
                v = sql.get(("fq", thr))
                if v:
                    s = statistics.median(v)
                    e = engine_ref("W1_lstm", thr)
                    r = s / e if e else None
                    tgt = f"<= {SQL_BATCH_MAX}x engine"
                    if r is not None:
                        ok = r <= SQL_BATCH_MAX
                        failed += not ok
                        tgt += " PASS" if ok else " FAIL"
                    print(f"{'forecast_query W1 (4096 series)':<34} {thr:>3} {fmt_ms(s):>9} {fmt_ms(e):>10}"
                          f" {(f'{r:.2f}' if r else '-'):>10}  {tgt}")
                v = sql.get(("predict", thr))
                if v:
                    s = statistics.median(v)
                    e = engine_ref("W5_lstm_b1", thr)
                    r = s / e if e else None
                    ok = s <= SQL_PREDICT_MAX_MS
                    failed += not ok
                    print(f"{'predict, one series (per call)':<34} {thr:>3} {fmt_ms(s):>9} {fmt_ms(e):>10}"
                          f" {(f'{r:.2f}' if r else '-'):>10}  <= {SQL_PREDICT_MAX_MS} ms {'PASS' if ok else 'FAIL'}")
    print(f"\ntargets missed: {failed}" + (f", not measured: {unmeasured}" if unmeasured else ""))


if __name__ == "__main__":
    main()
