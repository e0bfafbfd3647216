#!/usr/bin/env bash
# The SQL path of the recurrent benchmark; rnn.sh runs it inside a throwaway
# cluster (pg_virtualenv -t, which sets PGHOST, PGPORT, PGUSER, PGPASSWORD):
#
#   pg_virtualenv -t bash test/bench/rnn_sql.sh WORKDIR THREADS...
#
# WORKDIR holds w1_input.csv (series,t,value: W1's 4096 x 168 input) and
# w1_ref.csv (series,y: PyTorch's output), written by rnn.sh; the model file
# is $PEER_MODEL_DIR/lstm_forecast.safetensors.  Writes WORKDIR/sql.txt:
#   fq THREADS MS            one forecast_query over the 4096 series (horizon 1)
#   scan THREADS MS          forecast_query's own query alone, its rows counted
#                            (what PostgreSQL's executor costs of the SQL path)
#   predict THREADS MS       one seqmodel.predict of one series (per call)
#   engine WORKLOAD THREADS MS   bench_rnn ($BENCH_RNN, if set): W1 alternated with
#                            forecast_query, W5 timed just before predict
#   note TEXT                what was skipped or looked wrong
# Timings are server-side (clock_timestamp() around EXECUTE in a plpgsql
# function), each after a warm-up statement in the same session, so the model
# is in the backend's cache.  Parallel query is off
# (max_parallel_workers_per_gather = 0): seqmodel.threads is the only source
# of parallelism, as the thread count is for the engine and the peers.
# Skips (with a note, exit 0) whatever the installed extension lacks.
set -uo pipefail
. "$(dirname "$0")/common.sh"    # note, q, have, set_threads, engine_ref, time_sql
sql_init "$@"                   # work, threads_list, out, log; CREATE EXTENSION
model_file=${PEER_MODEL_DIR:-/tmp/peer-models}/lstm_forecast.safetensors
reps=3          # statements timed per figure (median)
calls=2000      # predict calls per timed statement

config='{"input_size": 1, "hidden_size": 64, "num_layers": 2, "output_size": 1, "rnn_prefix": "lstm.", "head_prefix": "head."}'
# the series table is keyed (series, t), as a time-series table is, so the
# query's rows come in order from the index: what is timed is forecast_query,
# not a sort of the whole table
fq_sql="SELECT count(*) FROM seqmodel.forecast_query('w1', 'SELECT series, value FROM w1_input ORDER BY series, t', 1)"
# the same query alone; count(value), not count(*): the value column must be
# read, as forecast_query reads it (an index-only scan would skip the heap)
scan_sql="SELECT count(value) FROM (SELECT series, value FROM w1_input ORDER BY series, t) s"

has_fq=1; has_predict=1
have forecast_query || { has_fq=0; note "seqmodel.forecast_query does not exist in the installed extension: batch SQL timing skipped"; }
have predict || { has_predict=0; note "seqmodel.predict does not exist in the installed extension: predict timing skipped"; }

if ! q -c "SELECT seqmodel.import_safetensors_file('w1', 'lstm', '$config', '$model_file')" >/dev/null; then
    note "importing W1 as an lstm model failed ($(tail -1 "$log")): SQL section skipped"; exit 0
fi

q <<SQL || { note "loading W1's input failed (see $log): SQL section skipped"; exit 0; }
CREATE TABLE w1_input (series int, t int, value real);
\copy w1_input FROM '$work/w1_input.csv' (FORMAT csv)
ALTER TABLE w1_input ADD PRIMARY KEY (series, t);
VACUUM ANALYZE w1_input;
CREATE TABLE w1_ref (series int, y real);
\copy w1_ref FROM '$work/w1_ref.csv' (FORMAT csv)
-- series 0 as a 1-D real[] (168 steps) and as a 2-D real[] [168][1] (steps x features)
CREATE TABLE w1_one AS
  SELECT array_agg(value ORDER BY t) AS x, array_agg(ARRAY[value] ORDER BY t) AS x2
    FROM w1_input WHERE series = 0;
ANALYZE;
$bench_ms_sql
SQL
echo "  W1: $(q -c "SELECT count(DISTINCT series) || ' series, ' || count(*) || ' rows' FROM w1_input")"

sql_threads_guc

# accuracy: predict on series 0 (last value of the result) vs PyTorch, normwise
# (over the 4096 reference outputs); try the 1-D form, then steps x features
pred_arg=
if [ $has_predict = 1 ]; then
    for form in x x2; do
        label=$([ $form = x ] && echo "real[168]" || echo "real[168][1]")
        err=$(q -c "SELECT abs(p[array_length(p, 1)] - r.y) / (SELECT max(abs(y)) FROM w1_ref)
                      FROM (SELECT array(SELECT unnest(seqmodel.predict('w1', $form))) AS p FROM w1_one) s,
                           w1_ref r WHERE r.series = 0") || { echo "  predict('w1', series 0 as $label) failed: $(tail -1 "$log")"; continue; }
        echo "  predict('w1', series 0 as $label): relative error vs PyTorch $err"
        [ -z "$pred_arg" ] && pred_arg=$form
        if awk -v e="$err" 'BEGIN { exit !(e < 1e-4) }'; then pred_arg=$form; break; fi
        note "predict('w1', series 0 as $label) differs from PyTorch's output for series 0: relative error $err"
    done
    [ -n "$pred_arg" ] || note "seqmodel.predict on the lstm model failed for both input forms: predict timing skipped"
fi

# accuracy: forecast_query's horizon-1 values are the model's outputs on each whole series
if [ $has_fq = 1 ]; then
    chk=$(q <<'SQL'
WITH f AS (SELECT to_jsonb(f) AS j
             FROM seqmodel.forecast_query('w1', 'SELECT series::text, value FROM w1_input ORDER BY series, t', 1) f)
SELECT count(*) || ' rows, normwise relative error vs PyTorch ' ||
       coalesce((max(abs((coalesce(j->>'value', j->>'forecast', j->>'y', j->>'point'))::real - r.y))
                 / (SELECT max(abs(y)) FROM w1_ref))::text, 'not checked (columns not recognised)') ||
       ', first row ' || (array_agg(j::text))[1]
  FROM f LEFT JOIN w1_ref r ON r.series::text = coalesce(j->>'series', j->>'key', j->>'id', j->>'series_id');
SQL
    ) || { note "forecast_query failed: $(tail -1 "$log")"; has_fq=0; }
    [ $has_fq = 1 ] && echo "  forecast_query('w1', ..., 1): $chk"
fi

for n in $threads_list; do
    engine_ref "$n" "${BENCH_RNN:-}" W5_lstm_b1
    # forecast_query and the engine alternated, each timed $reps times: the VM's
    # speed drifts 10-30% within minutes, so a block of one then a block of the
    # other compares two machines (report.py takes the median of each)
    for _ in $(seq $reps); do
        engine_ref "$n" "${BENCH_RNN:-}" W1_lstm
        [ $has_fq = 1 ] && time_sql "$n" forecast_query fq "$fq_sql" 1 1
        [ $has_fq = 1 ] && time_sql "$n" "forecast_query's query alone" scan "$scan_sql" 1 1
    done
    if [ -n "$pred_arg" ]; then
        pq="SELECT count(seqmodel.predict('w1', $pred_arg)) FROM w1_one, generate_series(1, $calls)"
        time_sql "$n" predict predict "$pq" 1 $reps $calls     # ms per call
    fi
done
grep -E '^(engine|fq|scan|predict) ' "$out" | sed 's/^/  /'
exit 0
