#!/usr/bin/env bash
# The SQL path of the transformer benchmark; tfm.sh runs it inside a throwaway
# cluster (pg_virtualenv -t, which sets PGHOST, PGPORT, PGUSER, PGPASSWORD):
#
#   [SQL_ROUNDS=3] pg_virtualenv -t bash test/bench/tfm_sql.sh WORKDIR THREADS...
#
# WORKDIR holds w3_input.csv / w4_input.csv (id,"{token ids}": W3's 64 x 128
# and W4's 16 x 256 inputs) and w3_ref.csv / w4_ref.csv (id,"{PyTorch's
# output}"), written by tfm.sh; the model files are
# $PEER_MODEL_DIR/text_encoder.safetensors and gpt_scorer.safetensors.  There is
# no batch token SQL yet, so every figure is per-row calls:
#   W3  SELECT seqmodel.forward('w3', ids) FROM w3_input        (64 rows, one statement)
#   W4  SELECT seqmodel.logprob_ids('w4', ids) FROM w4_input    (16 rows, one statement)
#   W5  SELECT seqmodel.forward('w3', ids) FROM w5_one          (W3's row 0, per call)
# Writes WORKDIR/sql.txt:
#   sql WORKLOAD THREADS MS      a timed statement (W5: one line per call)
#   err WORKLOAD REL             normwise relative error of the SQL outputs vs PyTorch's
#   engine WORKLOAD THREADS MS   bench_tfm ($BENCH_TFM, if set) timed just before,
#                                the batch in one call and (WORKLOAD:rows) one call per row
#   note TEXT                    what was skipped or looked wrong
# Timings are server-side (clock_timestamp() around EXECUTE in a plpgsql
# function), after a warm-up statement in the same session, so the model is in
# the backend's cache.  SQL_ROUNDS rounds (default 1) of: per thread count, the
# engine reference, then the statements.  Parallel query is off (max_parallel_workers_per_gather
# = 0): seqmodel.threads is the only source of parallelism, as the thread count
# is for the engine and the peers.  Skips (with a note, exit 0) whatever the
# installed extension lacks.
set -uo pipefail
. "$(dirname "$0")/common.sh"    # note, q, have, set_threads, engine_ref, time_sql
sql_init "$@"                   # work, threads_list, out, log; CREATE EXTENSION
mdir=${PEER_MODEL_DIR:-/tmp/peer-models}
rounds=${SQL_ROUNDS:-1}   # tfm.sh passes its ROUNDS
reps=3          # timed statements per W3 / W4 figure and round (median over all)
calls=100       # timed single calls for W5 per round (median over all), after 10 warm-up calls

w3_config='{"vocab_size": 8000, "d_model": 256, "nhead": 4, "dim_feedforward": 1024, "num_layers": 4, "activation": "gelu", "positional": "learned", "max_len": 512, "embedding_prefix": "embed.", "position_prefix": "pos.", "pooling": "mean", "output_size": 2, "head_prefix": "classifier."}'
w4_config='{"vocab_size": 8000, "n_positions": 1024, "n_embd": 384, "n_layer": 6, "n_head": 6, "n_inner": 1536, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "conv1d": false}'
w3_sql="SELECT seqmodel.forward('w3', ids) FROM w3_input"
w4_sql="SELECT seqmodel.logprob_ids('w4', ids) FROM w4_input"
w5_sql="SELECT seqmodel.forward('w3', ids) FROM w5_one"

has_w3=1; has_w4=1
have forward || { has_w3=0; note "seqmodel.forward does not exist in the installed extension: W3 and W5 skipped"; }
have logprob_ids || { has_w4=0; note "seqmodel.logprob_ids does not exist in the installed extension: W4 skipped"; }

if [ $has_w3 = 1 ] && ! q -c "SELECT seqmodel.import_safetensors_file('w3', 'transformer', '$w3_config', '$mdir/text_encoder.safetensors')" >/dev/null; then
    note "importing text_encoder as a transformer failed ($(tail -1 "$log")): W3 and W5 skipped"; has_w3=0
fi
if [ $has_w4 = 1 ] && ! q -c "SELECT seqmodel.import_safetensors_file('w4', 'gpt2', '$w4_config', '$mdir/gpt_scorer.safetensors')" >/dev/null; then
    note "importing gpt_scorer as gpt2 failed ($(tail -1 "$log")): W4 skipped"; has_w4=0
fi
[ $has_w3 = 1 ] || [ $has_w4 = 1 ] || exit 0

q <<SQL || { note "loading the inputs failed (see $log): SQL section skipped"; exit 0; }
CREATE TABLE w3_input (id int PRIMARY KEY, ids int[]);
\copy w3_input FROM '$work/w3_input.csv' (FORMAT csv)
CREATE TABLE w3_ref (id int PRIMARY KEY, y real[]);
\copy w3_ref FROM '$work/w3_ref.csv' (FORMAT csv)
CREATE TABLE w4_input (id int PRIMARY KEY, ids int[]);
\copy w4_input FROM '$work/w4_input.csv' (FORMAT csv)
CREATE TABLE w4_ref (id int PRIMARY KEY, y float8[]);
\copy w4_ref FROM '$work/w4_ref.csv' (FORMAT csv)
CREATE TABLE w5_one AS SELECT ids FROM w3_input WHERE id = 0;
VACUUM ANALYZE;
$bench_ms_sql
SQL
echo "  W3: $(q -c "SELECT count(*) || ' rows of ' || min(array_length(ids, 1)) || '..' || max(array_length(ids, 1)) || ' tokens' FROM w3_input");" \
     "W4: $(q -c "SELECT count(*) || ' rows of ' || min(array_length(ids, 1)) || '..' || max(array_length(ids, 1)) || ' tokens' FROM w4_input")"

sql_threads_guc

# accuracy, normwise (max|d| / max|ref|) over each workload's outputs, at each
# thread count; a missing or misshapen output counts as infinite error
accuracy() {
    local n=$1 r
    if [ $has_w3 = 1 ]; then
        r=$( { set_threads "$n"; cat <<'SQL'; } | q
WITH f AS (SELECT i.id, seqmodel.forward('w3', i.ids) AS y FROM w3_input i),
     d AS (SELECT f.id, f.y AS got, r.y AS want FROM f JOIN w3_ref r USING (id))
SELECT 'W3_encoder ' || CASE WHEN bool_and(array_length(got, 1) = array_length(want, 1)) AND count(*) = 64
                             THEN (SELECT max(abs(got[k] - want[k])) FROM d, generate_subscripts(want, 1) k)
                                  / (SELECT max(abs(v)) FROM w3_ref, unnest(y) v)
                             ELSE 'Infinity' END,
       'W5_encoder_b1 ' || (SELECT max(abs(got[k] - want[k])) / max(abs(want[k]))
                              FROM d, generate_subscripts(want, 1) k WHERE id = 0)
  FROM d;
SQL
        ) || { note "seqmodel.forward('w3', ...) failed at threads $n: $(tail -1 "$log")"; has_w3=0; }
        [ $has_w3 = 1 ] && echo "$r" | tr '|' '\n' | sed 's/^/err /' >> "$out" \
            && echo "  threads $n: forward('w3') vs PyTorch: $(echo "$r" | tr '|' ' ')"
    fi
    if [ $has_w4 = 1 ]; then
        r=$( { set_threads "$n"; cat <<'SQL'; } | q
SELECT 'W4_gpt_score ' || CASE WHEN count(*) = 16 THEN
         max(abs(seqmodel.logprob_ids('w4', i.ids) - r.y[1])) / (SELECT max(abs(y[1])) FROM w4_ref)
       ELSE 'Infinity' END
  FROM w4_input i JOIN w4_ref r USING (id);
SQL
        ) || { note "seqmodel.logprob_ids('w4', ...) failed at threads $n: $(tail -1 "$log")"; has_w4=0; }
        [ $has_w4 = 1 ] && echo "err $r" >> "$out" && echo "  threads $n: logprob_ids('w4') vs PyTorch: $r"
    fi
}

for n in $threads_list; do
    accuracy "$n"
done
# the engine reference (bench_tfm): the batches in one call and, as the SQL
# statements ask of the engine, one call per row
engine_wls=()
[ $has_w3 = 1 ] && engine_wls+=(W3_encoder W5_encoder_b1 W3_encoder:rows)
[ $has_w4 = 1 ] && engine_wls+=(W4_gpt_score W4_gpt_score:rows)
# rounds: the engine reference and the SQL statements alternate, so a burst of
# machine noise falls on both; the report takes the medians over all rounds
for r in $(seq "$rounds"); do
    for n in $threads_list; do
        echo "  round $r/$rounds, threads $n"
        engine_ref "$n" "${BENCH_TFM:-}" "${engine_wls[@]}"
        [ $has_w3 = 1 ] && time_sql "$n" W3_encoder "sql W3_encoder" "$w3_sql" 1 $reps
        [ $has_w4 = 1 ] && time_sql "$n" W4_gpt_score "sql W4_gpt_score" "$w4_sql" 1 $reps
        [ $has_w3 = 1 ] && time_sql "$n" W5_encoder_b1 "sql W5_encoder_b1" "$w5_sql" 10 $calls
    done
done
/usr/bin/python3 - "$out" <<'EOF'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if p and p[0] in ("sql", "engine") and len(p) == 4:
        v[(p[0], p[1], p[2])].append(float(p[3]))
for (kind, wl, n), xs in sorted(v.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0])):
    print(f"  {kind:<6} {wl:<18} threads {n}: median {statistics.median(xs):9.3f} ms over {len(xs)}")
EOF
exit 0
