#!/usr/bin/env bash
# Batch text scoring against per-row calls, in SQL: seqmodel.score_query vs
# seqmodel.classify / embed / logprob called once per row, over 10 000 real
# text lines.  Run from the repository root, with the extension installed
# (make && make install):
#
#   bash test/bench/text_sql.sh [ROUNDS]        # ROUNDS defaults to 3
#
# It writes into $BENCH_DIR (default /tmp/seqmodel-bench-text):
#   bench_text.csv     id,body: the first 10 000 non-empty lines of
#                      test/fixtures/tok/corpus.txt from line 43 on (the
#                      multilingual prose; lines 1-42 are tokenizer edge cases)
#                      of at most 300 bytes
#   gpt2.safetensors, gpt2_config.json
#                      a small GPT-2 (vocab 50257, n_embd 64, 2 layers, 4
#                      heads, 256 positions; random weights, seed 0, HF Conv1D
#                      layout) for 'logprob' with GPT-2's real tokenizer
#                      (test/fixtures/tok/gpt2/tokenizer.json)
#   bench_text         the engine reference, built from test/bench/bench_text.c
#                      (and src/engine/libsmengine.a, made if out of date)
#   engine_TASK.tsv    bench_text's outputs for the check below
#   text.txt           the raw figures: "time TASK THREADS MODE MS" lines,
#                      "engine TASK THREADS MS" and "engine_parts TASK THREADS
#                      TOK_MS FWD_MS" lines, "check ..." / "echeck ..." lines
#                      and notes
#   text.log           psql's and bench_text's stderr
#   build.log          the build's output
# then runs itself (--inner) in a throwaway cluster (pg_virtualenv -t) and prints
# the table and one JSON line per (task, threads).
#
# Tasks: classify and embed on the langid demo model (test/data/langid.*: BERT,
# hidden 64, 2 layers, 10 labels, WordPiece), logprob on the GPT-2 above.  For
# each task and seqmodel.threads in $THREADS_LIST (default "1 2"), in one
# session, after a warm-up (model and tokenizer in the backend's cache), ROUNDS
# rounds of, alternating (the order flips every round):
#   per-row   SELECT count(y) FROM (SELECT id, seqmodel.TASK(MODEL, body) AS y FROM bench_text) s
#             (count(y), not count(*): the planner drops an unused STABLE column)
#   batch     SELECT count(*) FROM seqmodel.score_query(MODEL, 'TASK', 'SELECT id, body FROM bench_text')
#   tokenize  SELECT count(seqmodel.tokenize(MODEL, body)) FROM bench_text   (tokenization alone)
# timed server-side (clock_timestamp() around EXECUTE in a plpgsql function),
# and the engine reference right beside the batch (perrow batch engine, then
# engine batch perrow): bench_text, one process per run (psql's \! in the
# same session, so nothing overlaps), doing what score_query does minus
# PostgreSQL -- the same tokenization (truncation on), the same batches (64
# texts or ~4096 tokens), one sm_tfm_forward per batch -- warmed up on 500
# rows, then one timed pass over all rows, tokenization included.
# Parallel query is off (max_parallel_workers_per_gather = 0): seqmodel.threads
# is the only parallelism.  seqmodel.truncation = truncate (no line needs it at
# <= 300 bytes in practice; the check says how many would).  Reported: median
# rows/s of each, the ratio batch / per-row, and the batch's ms against the
# engine's (target: score_query <= 1.1x the engine).  Before the timing, the
# batch outputs are checked against the per-row outputs, and (at the first
# thread count) against bench_text's (max abs difference < 1e-5 for classify
# and embed, relative difference < 1e-5 for logprob).  If bench_text does not
# build, the engine columns stay empty and the rest runs.
#
# Knobs (environment): THREADS_LIST, ROWS (default 10000), BENCH_DIR.
set -uo pipefail

bench_ms_sql='CREATE FUNCTION bench_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN 1000 * extract(epoch FROM clock_timestamp() - t0);
END $$;'

# ================================================================ engine
# --engine WORKDIR BINARY TASK THREADS [OUTFILE]: one bench_text run (warm-up
# on 500 rows, one timed pass), as "engine TASK THREADS MS" and "engine_parts
# TASK THREADS TOK_MS FWD_MS" lines on stdout (run by psql's \! between the
# timed statements); OUTFILE: its outputs (BENCH_TEXT_OUT), for the check
if [ "${1:-}" = --engine ]; then
    work=$2 bin=$3 task=$4 n=$5 eout=${6:-}
    if [ "$task" = logprob ]; then m=gpt2 arch=gpt2; else m=langid arch=bert; fi
    line=$(cd "$work" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n BENCH_WARMUP_ROWS=500 BENCH_TEXT_OUT=$eout \
        "$bin" "$n" "$task" "$arch" "${m}_config.json" "$m.safetensors" "${m}_tokenizer.json" bench_text.csv 1 \
        2>>"$work/text.log" </dev/null)
    rc=$?
    line=$(echo "$line" | grep '^{' | tail -1)
    if [ $rc != 0 ] || [ -z "$line" ]; then
        echo "note the engine run (bench_text $task, threads $n) failed: exit $rc (see $work/text.log)"; exit 1
    fi
    echo "$line" | /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
print("engine", r["task"], r["threads"], r["median_ms"])
print("engine_parts", r["task"], r["threads"], r["tok_ms"], r["fwd_ms"])'
    exit 0
fi

# ================================================================ outer
if [ "${1:-}" != --inner ]; then
    root=$(pwd)
    rounds=${1:-3}
    [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash test/bench/text_sql.sh [ROUNDS]" >&2; exit 2; }
    [ -f test/fixtures/tok/corpus.txt ] || { echo "text_sql.sh: run it from the repository root" >&2; exit 2; }
    work=${BENCH_DIR:-/tmp/seqmodel-bench-text}
    rows=${ROWS:-10000}
    THREADS_LIST=${THREADS_LIST:-"1 2"}
    PY=/usr/bin/python3
    mkdir -p "$work"
    command -v pg_virtualenv >/dev/null || { echo "text_sql.sh: pg_virtualenv is not installed (postgresql-common)" >&2; exit 1; }
    [ -f "$(pg_config --sharedir)/extension/seqmodel.control" ] \
        || { echo "text_sql.sh: the extension is not installed (make && make install)" >&2; exit 1; }
    installed=$(pg_config --pkglibdir)/seqmodel.so
    if [ ! -f "$root/seqmodel.so" ] || ! cmp -s "$installed" "$root/seqmodel.so"; then
        echo "  warning: the installed seqmodel.so is not this tree's build (make && make install)"
    fi

    echo "== rows and the GPT-2 model into $work"
    "$PY" - "$root" "$work" "$rows" <<'EOF' || { echo "text_sql.sh: preparing the inputs failed" >&2; exit 1; }
import csv, json, os, sys
root, work, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(root, "test", "fixtures"))

lines = []
with open(os.path.join(root, "test/fixtures/tok/corpus.txt"), "rb") as f:
    for no, raw in enumerate(f.read().split(b"\n"), 1):
        if no >= 43 and 0 < len(raw) <= 300:
            lines.append(raw.decode("utf-8"))
        if len(lines) == rows:
            break
if len(lines) < rows:
    sys.exit(f"only {len(lines)} lines qualify")
with open(os.path.join(work, "bench_text.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    for i, t in enumerate(lines, 1):
        w.writerow([i, t])
print(f"  {len(lines)} lines, {sum(len(t.encode()) for t in lines) / len(lines):.1f} bytes on average")

st = os.path.join(work, "gpt2.safetensors")
cfg = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
       "n_positions": 256, "n_ctx": 256, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": None,
       "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
       "bos_token_id": 50256, "eos_token_id": 50256}
with open(os.path.join(work, "gpt2_config.json"), "w") as f:
    json.dump(cfg, f)
if not os.path.exists(st):
    import torch, sm_safetensors
    g = torch.Generator().manual_seed(0)
    V, P, d, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
    def rnd(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std
    t = {"wte.weight": rnd(V, d), "wpe.weight": rnd(P, d, std=0.01),
         "ln_f.weight": 1 + rnd(d, std=0.1), "ln_f.bias": rnd(d)}
    for i in range(L):            # HF Conv1D layout: weight [in, out]
        h = f"h.{i}."
        t.update({h + "ln_1.weight": 1 + rnd(d, std=0.1), h + "ln_1.bias": rnd(d),
                  h + "attn.c_attn.weight": rnd(d, 3 * d), h + "attn.c_attn.bias": rnd(3 * d),
                  h + "attn.c_proj.weight": rnd(d, d), h + "attn.c_proj.bias": rnd(d),
                  h + "ln_2.weight": 1 + rnd(d, std=0.1), h + "ln_2.bias": rnd(d),
                  h + "mlp.c_fc.weight": rnd(d, 4 * d), h + "mlp.c_fc.bias": rnd(4 * d),
                  h + "mlp.c_proj.weight": rnd(4 * d, d), h + "mlp.c_proj.bias": rnd(d)})
    sm_safetensors.save(t, st, metadata={"format": "pt"})
    print(f"  wrote {st}")
EOF
    # the server (user postgres) reads the model files
    cp test/data/langid.safetensors test/data/langid_config.json test/data/langid_tokenizer.json \
       test/fixtures/tok/gpt2/tokenizer.json "$work/" || exit 1
    mv "$work/tokenizer.json" "$work/gpt2_tokenizer.json"
    chmod a+rx "$work" && chmod a+r "$work"/*

    # the engine reference (as common.sh's bench_build builds bench_rnn / bench_tfm)
    echo "== building bench_text"
    bench_text=$work/bench_text
    : > "$work/build.log"
    if ! make -s -C "$root" src/engine/libsmengine.a >>"$work/build.log" 2>&1; then
        echo "  building src/engine/libsmengine.a failed (tail of $work/build.log):"; tail -5 "$work/build.log"; bench_text=
    elif ! cc -std=gnu11 -O2 -Wall -Wextra -Isrc/engine -o "$bench_text" test/bench/bench_text.c \
            src/engine/libsmengine.a -lopenblas -lm >>"$work/build.log" 2>&1; then
        echo "  building bench_text failed (tail of $work/build.log):"; tail -5 "$work/build.log"; bench_text=
    elif [ -n "$(find "$root/src/engine" -name '*.o' -newer "$installed" 2>/dev/null)" ]; then
        echo "  warning: the engine objects are newer than the installed seqmodel.so: bench_text may not be the engine score_query runs"
    fi
    [ -n "$bench_text" ] || echo "  !! the engine columns will be empty; the SQL timing still runs"

    echo "== SQL: $rounds rounds x threads {$THREADS_LIST}, in a throwaway cluster"
    # shellcheck disable=SC2086  # THREADS_LIST: one argument per thread count
    BENCH_TEXT=$bench_text pg_virtualenv -t bash "$root/test/bench/text_sql.sh" --inner "$work" "$rounds" $THREADS_LIST \
        2>>"$work/text.log" || { echo "text_sql.sh: the SQL run failed (see $work/text.log)" >&2; exit 1; }
    exit 0
fi

# ================================================================ inner (pg_virtualenv)
shift
work=$1 rounds=$2
shift 2
threads_list=$*
self=$0                          # this script, for its --engine runs
bench_text=${BENCH_TEXT:-}       # the engine reference, or empty
[ -n "$bench_text" ] && [ -x "$bench_text" ] || bench_text=
out=$work/text.txt
log=$work/text.log
: > "$out"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@" 2>>"$log"; }
note() { echo "note $*" >> "$out"; echo "  $*"; }
die() { note "$*"; exit 1; }

q <<SQL >/dev/null || die "setting up failed: $(tail -1 "$log")"
CREATE EXTENSION seqmodel;
SELECT seqmodel.import_safetensors('langid', 'bert', pg_read_file('$work/langid_config.json')::jsonb,
                                   pg_read_binary_file('$work/langid.safetensors'));
SELECT seqmodel.import_tokenizer('langid', pg_read_file('$work/langid_tokenizer.json'));
SELECT seqmodel.import_safetensors('gpt2', 'gpt2', pg_read_file('$work/gpt2_config.json')::jsonb,
                                   pg_read_binary_file('$work/gpt2.safetensors'));
SELECT seqmodel.import_tokenizer('gpt2', pg_read_file('$work/gpt2_tokenizer.json'));
CREATE TABLE bench_text (id int PRIMARY KEY, body text);
\copy bench_text FROM '$work/bench_text.csv' (FORMAT csv)
VACUUM ANALYZE bench_text;
$bench_ms_sql
SQL

settings() {
    echo "SET max_parallel_workers_per_gather = 0; SET seqmodel.truncation = truncate; SET seqmodel.threads = $1;"
}
nrows=$(q -c "SELECT count(*) FROM bench_text")
q -c "SELECT 'rows ' || count(*) || ', tokens per row: langid ' || round(avg(array_length(seqmodel.tokenize('langid', body), 1)), 1)
         || ' (max ' || max(array_length(seqmodel.tokenize('langid', body), 1)) || ', over 128: '
         || count(*) FILTER (WHERE array_length(seqmodel.tokenize('langid', body), 1) > 128)
         || '), gpt2 ' || round(avg(1 + array_length(seqmodel.tokenize('gpt2', body), 1)), 1)
         || ' with BOS (max ' || max(1 + array_length(seqmodel.tokenize('gpt2', body), 1)) || ', over 256: '
         || count(*) FILTER (WHERE 1 + array_length(seqmodel.tokenize('gpt2', body), 1) > 256) || ')'
       FROM bench_text" | tee -a "$out" | sed 's/^/  /'

# model TASK: the model a task runs on
model() { [ "$1" = logprob ] && echo gpt2 || echo langid; }
perrow_sql() { echo "SELECT count(y) FROM (SELECT id, seqmodel.$1('$(model "$1")', body) AS y FROM bench_text) s"; }
batch_sql() { echo "SELECT count(*) FROM seqmodel.score_query('$(model "$1")', '$1', 'SELECT id, body FROM bench_text')"; }
tok_sql() { echo "SELECT count(seqmodel.tokenize('$(model "$1")', body)) FROM bench_text"; }

# ---------------------------------------------------------------- correctness
# batch vs per-row over all rows: same keys, same output lengths, max abs (classify,
# embed) or relative (logprob) difference; at the first thread count, batch vs the
# engine reference (bench_text's outputs, \copy'd into a temp table) the same way
first_n=${threads_list%% *}
for n in $threads_list; do
    for task in classify embed logprob; do
        m=$(model $task)
        if [ $task = logprob ]; then
            diff="max(abs(b.output[1] - p.y) / abs(p.y))"; same="count(*) FILTER (WHERE array_length(b.output, 1) = 1)"
            ediff="(SELECT max(abs(b2.output[1] - e2.y[1]) / abs(e2.y[1])) FROM b b2 JOIN e e2 USING (key))"
            py="seqmodel.logprob('$m', body)"; limit=1e-5
        else
            diff="(SELECT max(abs(b2.output[k] - p2.y[k])) FROM b b2 JOIN p p2 USING (key), generate_subscripts(p2.y, 1) k)"
            ediff="(SELECT max(abs(b2.output[k] - e2.y[k])) FROM b b2 JOIN e e2 USING (key), generate_subscripts(e2.y, 1) k)"
            same="count(*) FILTER (WHERE array_length(b.output, 1) = array_length(p.y, 1))"
            py="seqmodel.$task('$m', body)"; limit=1e-5
        fi
        # the engine's outputs for this task, or an empty table (no engine check)
        eout=$work/engine_$task.tsv
        echeck=0
        rm -f "$eout"
        if [ "$n" = "$first_n" ] && [ -n "$bench_text" ]; then
            if bash "$self" --engine "$work" "$bench_text" "$task" "$n" "$eout" >/dev/null && [ -s "$eout" ]; then
                echeck=1
            else
                note "bench_text $task at threads $n failed (see $log): no engine check"
            fi
        fi
        ecopy=$([ $echeck = 1 ] && echo "\\copy engine_out FROM '$eout'")
        r=$( { settings "$n"; cat <<SQL; } | q
CREATE TEMP TABLE engine_out (key text, v text);
$ecopy
WITH b AS MATERIALIZED (SELECT key, output FROM seqmodel.score_query('$m', '$task', 'SELECT id, body FROM bench_text')),
     p AS MATERIALIZED (SELECT id::text AS key, $py AS y FROM bench_text),
     e AS MATERIALIZED (SELECT key, ('{' || v || '}')::float8[] AS y FROM engine_out)
SELECT (SELECT count(*) FROM b) || ' ' || count(*) || ' ' || $same || ' ' || $diff
       || ' ' || (SELECT count(*) FROM e) || ' ' || (SELECT count(*) FROM b JOIN e USING (key))
       || ' ' || (SELECT count(*) FROM b JOIN e USING (key) WHERE array_length(b.output, 1) = array_length(e.y, 1))
       || ' ' || coalesce($ediff, 'NaN')
  FROM b JOIN p USING (key);
SQL
        ) || die "the check of $task at threads $n failed: $(tail -1 "$log")"
        read -r nb nj nsame d ne nej nesame ed <<< "$r"
        if [ $echeck = 1 ]; then
            everdict=$(/usr/bin/python3 -c "import sys; nb, ne, nj, ns, n = map(int, sys.argv[1:6]); d = float(sys.argv[6])
print('ok' if nb == ne == nj == ns == n and d < float(sys.argv[7]) else 'FAIL')" "$nb" "$ne" "$nej" "$nesame" "$nrows" "$ed" "$limit")
            echo "echeck $task $n $everdict $ed $ne" >> "$out"
        fi
        verdict=$(/usr/bin/python3 -c "import sys; nb, nj, ns, n = map(int, sys.argv[1:5]); d = float(sys.argv[5])
print('ok' if nb == nj == ns == n and d < float(sys.argv[6]) else 'FAIL')" "$nb" "$nj" "$nsame" "$nrows" "$d" "$limit")
        what=$([ $task = logprob ] && echo "max rel diff" || echo "max abs diff")
        echo "check $task $n $verdict $d $nb" >> "$out"
        printf '  check %-8s threads %s: %s rows back, %s matched, %s %.3g (< %s): %s\n' \
            "$task" "$n" "$nb" "$nsame" "$what" "$d" "$limit" "$verdict"
        [ $echeck = 1 ] && printf '  check %-8s threads %s: vs the engine (bench_text): %s rows, %s matched, %s %.3g (< %s): %s\n' \
            "$task" "$n" "$ne" "$nesame" "$what" "$ed" "$limit" "$everdict"
    done
done

# ---------------------------------------------------------------- timing
# one session: per thread count a warm-up of every statement on 500 rows, then the
# rounds, per-row and batch alternating (the order flips each round), the engine
# reference right beside the batch (bench_text through psql's \!, which runs it
# between two statements: the session waits, nothing overlaps)
warm_sql() { echo "${1//FROM bench_text/FROM (SELECT * FROM bench_text ORDER BY id LIMIT 500) w}"; }
{
    for n in $threads_list; do
        settings "$n"
        for task in classify embed logprob; do
            for s in "$(perrow_sql $task)" "$(batch_sql $task)" "$(tok_sql $task)"; do
                echo "SELECT bench_ms(\$q\$$(warm_sql "$s")\$q\$);"
            done
        done
    done
    for r in $(seq "$rounds"); do
        for n in $threads_list; do
            settings "$n"
            printf '\\echo round %s/%s threads %s\n' "$r" "$rounds" "$n"
            for task in classify embed logprob; do
                if [ $((r % 2)) = 1 ]; then modes="perrow batch engine"; else modes="engine batch perrow"; fi
                for mode in $modes tokenize; do
                    case $mode in
                        perrow) s=$(perrow_sql $task) ;; batch) s=$(batch_sql $task) ;; tokenize) s=$(tok_sql $task) ;;
                        engine) [ -n "$bench_text" ] && echo "\\! bash '$self' --engine '$work' '$bench_text' $task $n || true"
                                continue ;;
                    esac
                    echo "SELECT 'time $task $n $mode ' || bench_ms(\$q\$$s\$q\$);"
                done
            done
        done
    done
} | q | while IFS= read -r line; do
    case $line in
        time*|engine*) echo "$line" >> "$out"; echo "    $line" ;;
        note*) echo "$line" >> "$out"; echo "  ${line#note }" ;;
        round*) echo "  $line" ;;
    esac
done
grep -q '^time' "$out" || die "the timing failed: $(tail -1 "$log")"

/usr/bin/python3 - "$out" "$nrows" "$rounds" <<'EOF'
import json, statistics, sys
from collections import defaultdict
path, rows, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
v = defaultdict(list)
checks, echecks = {}, {}
TARGET = 1.1        # score_query's ms at most 1.1x the engine's
for line in open(path):
    p = line.split()
    if p[:1] == ["time"] and len(p) == 5:
        v[(p[1], int(p[2]), p[3])].append(float(p[4]))
    elif p[:1] == ["engine"] and len(p) == 4:          # engine TASK THREADS MS
        v[(p[1], int(p[2]), "engine")].append(float(p[3]))
    elif p[:1] == ["engine_parts"] and len(p) == 5:    # engine_parts TASK THREADS TOK_MS FWD_MS
        v[(p[1], int(p[2]), "engine_tok")].append(float(p[3]))
        v[(p[1], int(p[2]), "engine_fwd")].append(float(p[4]))
    elif p[:1] == ["check"]:
        checks[(p[1], int(p[2]))] = (p[3], float(p[4]))
    elif p[:1] == ["echeck"]:                          # echeck TASK THREADS VERDICT DIFF ROWS
        echecks[p[1]] = (p[3], float(p[4]))
models = {"classify": "langid", "embed": "langid", "logprob": "gpt2"}
med = lambda xs: statistics.median(xs) if xs else None
print()
print(f"{'task':<9}{'model':<7}{'thr':>3}  {'per-row rows/s':>14}  {'batch rows/s':>12}  {'batch/per-row':>13}"
      f"  {'tokenize rows/s':>15}  check  {'batch ms':>9}  {'engine ms':>9}  {'batch ms / engine ms':>20}  engine check")
lines = []
for task in ("classify", "embed", "logprob"):
    for n in sorted({k[1] for k in v}):
        pr, b, t = (v.get((task, n, m)) for m in ("perrow", "batch", "tokenize"))
        if not pr or not b:
            continue
        mp, mb, mt = med(pr), med(b), med(t)
        me, met, mef = (med(v.get((task, n, m))) for m in ("engine", "engine_tok", "engine_fwd"))
        c = checks.get((task, n), ("?", float("nan")))
        ec = echecks.get(task, ("-", float("nan")))
        if me:
            ratio = mb / me
            verdict = "PASS" if ratio <= TARGET else "FAIL"
            eng = f"{me:>9.1f}  {f'{ratio:.2f}x (<= {TARGET}x engine {verdict})':>20}"
        else:
            ratio = verdict = None
            eng = f"{'-':>9}  {'-':>20}"
        print(f"{task:<9}{models[task]:<7}{n:>3}  {rows / mp * 1000:>14.0f}  {rows / mb * 1000:>12.0f}  {mp / mb:>12.2f}x"
              f"  {rows / mt * 1000 if mt else float('nan'):>15.0f}  {c[0]:<5}  {mb:>9.1f}  {eng}  {ec[0]}")
        lines.append(json.dumps({"bench": "text_sql", "task": task, "model": models[task], "threads": n, "rows": rows,
                                 "rounds": len(pr), "per_row_ms": round(mp, 1), "batch_ms": round(mb, 1),
                                 "tokenize_ms": round(mt, 1) if mt else None,
                                 "per_row_rows_s": round(rows / mp * 1000), "batch_rows_s": round(rows / mb * 1000),
                                 "ratio": round(mp / mb, 3), "check": c[0], "max_diff": c[1],
                                 "engine_ms": round(me, 1) if me else None,
                                 "engine_tok_ms": round(met, 1) if met else None,
                                 "engine_fwd_ms": round(mef, 1) if mef else None,
                                 "engine_runs": len(v.get((task, n, "engine"), [])),
                                 "batch_engine_ratio": round(ratio, 3) if ratio else None,
                                 "target": f"<= {TARGET}x engine", "target_met": verdict,
                                 "engine_check": ec[0], "engine_max_diff": ec[1] if task in echecks else None}))
print()
print("\n".join(lines))
EOF
exit 0
