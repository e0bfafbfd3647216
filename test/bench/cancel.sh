#!/usr/bin/env bash
# Cancellation, measured: how long past statement_timeout, and past
# pg_cancel_backend, each long-running seqmodel function keeps running.
# Run from the repository root with the extension installed (make install):
#
#   bash test/bench/cancel.sh [RUNS]        # RUNS per case and thread count, default 5
#
# It runs itself (--inner) in a throwaway cluster (pg_virtualenv -t) and
# writes $BENCH_DIR/cancel.txt (default /tmp/seqmodel-bench-cancel): one line
# "CASE THREADS timeout|cancel MS_PAST SQLSTATE" per run, then a table of
# medians and maxima.
#
# Cases (each is seconds of work when not stopped):
#   forecast_query  an LSTM (hidden 256) forecasting 10 000 steps of 4 series of 100 000 rows
#   predict_steps   the same LSTM over one series of 200 000 steps (a large predict)
#   score_query     classify with the language-ID BERT (test/data) over 200 000 text rows
#   generate        2 000 new tokens from a GPT-2 (vocab 50 257, n_embd 64, 2 layers) with
#                   GPT-2's tokenizer
#   tokenize        one text of about 16 MB (the fixture corpus, repeated) into GPT-2 ids
# For each case and seqmodel.threads 1 and 2, in one session after a warm-up call (model and
# tokenizer cached): RUNS times with statement_timeout = 100ms (past = statement time - 100),
# then RUNS times with no timeout and pg_cancel_backend from a second session 200 ms in (past =
# statement time - time at the cancel, both from the server's clocks). After every stop the
# session runs the case's small call again, which must succeed (the backend is usable).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
runs=${1:-5}
if [ "$runs" != "--inner" ]; then
    export BENCH_DIR=${BENCH_DIR:-/tmp/seqmodel-bench-cancel}
    mkdir -p "$BENCH_DIR"; chmod 777 "$BENCH_DIR"
    exec pg_virtualenv -t bash "$0" --inner "$runs"
fi
runs=$2
out=$BENCH_DIR/cancel.txt
: > "$out"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
grep -m1 "model name" /proc/cpuinfo | tee -a "$out"

echo "== setting up the models and data"
# 20 000 rows: the corpus's non-empty lines from line 43 on (its prose), at most 300 characters,
# repeated as needed
python3 - "$root/test/fixtures/tok/corpus.txt" > "$BENCH_DIR/texts.tsv" <<'PY'
import sys
lines = [l.strip().replace("\t", " ").replace("\\", " ")[:300] for l in open(sys.argv[1], encoding="utf-8").read().split("\n")[42:]]
lines = [l for l in lines if l]
for i in range(20000):
    print("%d\t%s" % (i + 1, lines[i % len(lines)]))
PY
q <<SQL >/dev/null || { echo "setup failed"; exit 1; }
\set tok_gpt2 \`cat '$root/test/fixtures/tok/gpt2/tokenizer.json'\`
\set tok_langid \`cat '$root/test/data/langid_tokenizer.json'\`
\set cfg_langid \`cat '$root/test/data/langid_config.json'\`
CREATE EXTENSION seqmodel;
CREATE FUNCTION le_f32(r real) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS \$\$
    SELECT string_agg(substring(float4send(r) FROM 5 - i FOR 1), ''::bytea ORDER BY i) FROM generate_series(1, 4) AS i \$\$;
CREATE FUNCTION le_u64(n bigint) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS \$\$
    SELECT string_agg(substring(int8send(n) FROM 9 - i FOR 1), ''::bytea ORDER BY i) FROM generate_series(1, 8) AS i \$\$;
CREATE FUNCTION make_safetensors(header text, data bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS \$\$
    SELECT le_u64(octet_length(h)) || h || data FROM convert_to(header, 'UTF8') AS h \$\$;
CREATE FUNCTION synth_safetensors(shapes jsonb) RETURNS bytea LANGUAGE plpgsql AS \$\$
DECLARE hdr text[] := '{}'; data bytea := ''::bytea; k text; shp jsonb; n bigint; off bigint := 0; t int := 0; blk bytea;
BEGIN
    FOR k, shp IN SELECT key, value FROM jsonb_each(shapes) ORDER BY key LOOP
        t := t + 1;
        n := seqmodel.numel(ARRAY(SELECT jsonb_array_elements_text(shp)::int));
        SELECT string_agg(le_f32((0.6 * sin(i * 0.731 + t * 1.37))::real), ''::bytea ORDER BY i) INTO blk FROM generate_series(1, 101) AS i;
        data := data || substring(decode(repeat(encode(blk, 'hex'), (n / 101 + 1)::int), 'hex') FROM 1 FOR (4 * n)::int);
        hdr := hdr || format('"%s":{"dtype":"F32","shape":%s,"data_offsets":[%s,%s]}', k, shp, off, off + 4 * n);
        off := off + 4 * n;
    END LOOP;
    RETURN make_safetensors('{' || array_to_string(hdr, ',') || '}', data);
END \$\$;
SELECT seqmodel.import_safetensors('slow', 'lstm', '{"input_size": 1, "hidden_size": 256, "output_size": 1}',
       make_safetensors('{"head.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"head.weight":{"dtype":"F32","shape":[1,256],"data_offsets":[4,1028]},"lstm.bias_hh_l0":{"dtype":"F32","shape":[1024],"data_offsets":[1028,5124]},"lstm.bias_ih_l0":{"dtype":"F32","shape":[1024],"data_offsets":[5124,9220]},"lstm.weight_hh_l0":{"dtype":"F32","shape":[1024,256],"data_offsets":[9220,1057796]},"lstm.weight_ih_l0":{"dtype":"F32","shape":[1024,1],"data_offsets":[1057796,1061892]}}',
                        decode(repeat(encode(le_f32(0.01), 'hex'), 265473), 'hex')));
SELECT seqmodel.import_safetensors('gpt', 'gpt2',
       '{"vocab_size": 50257, "n_positions": 2100, "n_embd": 64, "n_layer": 2, "n_head": 4}',
       synth_safetensors(jsonb_build_object('wte.weight', '[50257, 64]'::jsonb, 'wpe.weight', '[2100, 64]'::jsonb,
         'ln_f.weight', '[64]'::jsonb, 'ln_f.bias', '[64]'::jsonb) ||
         (SELECT jsonb_object_agg(format('h.%s.%s', l, k), v) FROM generate_series(0, 1) l,
            (VALUES ('ln_1.weight', '[64]'::jsonb), ('ln_1.bias', '[64]'), ('ln_2.weight', '[64]'), ('ln_2.bias', '[64]'),
                    ('attn.c_attn.weight', '[64, 192]'), ('attn.c_attn.bias', '[192]'),
                    ('attn.c_proj.weight', '[64, 64]'), ('attn.c_proj.bias', '[64]'),
                    ('mlp.c_fc.weight', '[64, 256]'), ('mlp.c_fc.bias', '[256]'),
                    ('mlp.c_proj.weight', '[256, 64]'), ('mlp.c_proj.bias', '[64]')) AS w(k, v))));
SELECT seqmodel.import_tokenizer('gpt', :'tok_gpt2');
\lo_import '$root/test/data/langid.safetensors'
SELECT seqmodel.import_safetensors('langid', 'bert', (:'cfg_langid')::jsonb, lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
SELECT seqmodel.import_tokenizer('langid', :'tok_langid');
CREATE TABLE texts (id int, body text);
\copy texts FROM '$BENCH_DIR/texts.tsv'
-- the classifier takes 128 tokens: a longer text would stop score_query with 54000 (truncation = error)
DELETE FROM texts WHERE cardinality(seqmodel.tokenize('langid', body)) > 128;
CREATE TABLE long_history AS SELECT array_fill(0.5::real, ARRAY[200000]) AS h;
CREATE TABLE big_text AS SELECT repeat(string_agg(body, ' '), 8) AS t FROM texts;
SQL
q -c "SELECT 'texts: ' || count(*) FROM texts" -c "SELECT 'big text: ' || pg_size_pretty(octet_length(t)::bigint) FROM big_text" | tee -a "$out"

# case name | the long statement | a small call of the same function (warm-up and "still works")
cases=(
"forecast_query|SELECT count(*) FROM seqmodel.forecast_query('slow', 'SELECT g % 4, 0.5 FROM generate_series(1, 400000) g ORDER BY g % 4, g', 10000)|SELECT count(*) FROM seqmodel.forecast_query('slow', 'SELECT 1, 0.5', 2)"
"predict_steps|SELECT array_dims(seqmodel.predict_steps('slow', h)) FROM long_history|SELECT array_dims(seqmodel.predict_steps('slow', '{0.5, 0.25}'))"
"score_query|SELECT count(*) FROM seqmodel.score_query('langid', 'classify', 'SELECT t.id * 10 + g, body FROM texts t, generate_series(0, 9) g')|SELECT count(*) FROM seqmodel.score_query('langid', 'classify', 'SELECT id, body FROM texts LIMIT 2')"
"generate|SELECT length(seqmodel.generate('gpt', 'Hello world', 2000))|SELECT length(seqmodel.generate('gpt', 'Hello world', 2))"
"tokenize|SELECT array_length(seqmodel.tokenize('gpt', t), 1) FROM big_text|SELECT array_length(seqmodel.tokenize('gpt', 'Hello world'), 1)"
)
ms_of() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'; }

for c in "${cases[@]}"; do
    IFS='|' read -r name long small <<< "$c"
    for th in 1 2; do
        echo "== $name, seqmodel.threads = $th"
        # statement_timeout: one session, warm-up, then runs, each followed by the small call
        script="SET seqmodel.threads = $th;
$small;
\\timing on"
        for _ in $(seq 1 "$runs"); do
            script="$script
SET statement_timeout = 100;
$long;
\\echo STATE :LAST_ERROR_SQLSTATE
RESET statement_timeout;
$small;"
        done
        res=$(echo "$script" | psql -X -q -At 2>&1)
        # the long statement's time is the one before each STATE line
        echo "$res" | awk '/^Time: / { t = $2 } /^STATE / { print t, $2 }' | while read -r ms state; do
            echo "$name $th timeout $(awk -v a="$ms" 'BEGIN { printf "%.1f", a - 100 }') $state" | tee -a "$out"
        done
        usable=$(echo "$res" | grep -c '^ERROR' )
        [ "$usable" -eq "$runs" ] || echo "$name $th note: $usable errors for $runs runs (each run should give exactly one)" | tee -a "$out"
        # pg_cancel_backend from a second session, 200 ms in
        for _ in $(seq 1 "$runs"); do
            ( printf '%s\n' "SET application_name = 'sm_cancel_bench'; SET seqmodel.threads = $th;" "$small;" '\timing on' "$long;" \
                  '\echo STATE :LAST_ERROR_SQLSTATE' '\timing off' "$small;" | psql -X -q -At > "$BENCH_DIR/a.out" 2>&1 ) &
            apid=$!
            at=""
            for _ in $(seq 1 200); do
                at=$(q -c "SELECT extract(epoch FROM clock_timestamp() - query_start) * 1000 FROM pg_stat_activity
                            WHERE application_name = 'sm_cancel_bench' AND state = 'active' AND query NOT LIKE 'SET%'
                              AND clock_timestamp() - query_start > interval '200 ms'")
                [ -n "$at" ] && break
                sleep 0.02
            done
            # (the filter in a subquery with OFFSET 0: a WHERE could call pg_cancel_backend on any row first)
            cancel_at=$(q -c "SELECT extract(epoch FROM clock_timestamp() - query_start) * 1000 FROM
                                (SELECT pid, query_start FROM pg_stat_activity
                                  WHERE application_name = 'sm_cancel_bench' AND state = 'active' OFFSET 0) s
                               WHERE pg_cancel_backend(pid)")
            wait $apid
            ms=$(grep '^Time: ' "$BENCH_DIR/a.out" | tail -1 | ms_of)
            state=$(sed -n 's/^STATE //p' "$BENCH_DIR/a.out")
            if [ -z "$cancel_at" ]; then
                echo "$name $th cancel - finished-before-cancel" | tee -a "$out"
            else
                echo "$name $th cancel $(awk -v a="$ms" -v b="$cancel_at" 'BEGIN { printf "%.1f", a - b }') $state" | tee -a "$out"
            fi
            tail -1 "$BENCH_DIR/a.out" | grep -qE '^[0-9]|^\[' || echo "$name $th note: the session's next call failed: $(tail -1 "$BENCH_DIR/a.out")" | tee -a "$out"
        done
    done
done

echo "== summary: ms past the timeout / the cancel (median, max over $runs runs; SQLSTATE 57014 expected)"
python3 - "$out" <<'PY'
import sys, statistics
rows = {}
states = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 5 and p[2] in ("timeout", "cancel") and p[3] != "-":
        rows.setdefault((p[0], p[1], p[2]), []).append(float(p[3]))
        states.setdefault((p[0], p[1], p[2]), set()).add(p[4])
print("| case | threads | timeout: median / max ms past | cancel: median / max ms past | SQLSTATE |")
print("|---|---|---|---|---|")
for case in dict.fromkeys(k[0] for k in rows):
    for th in ("1", "2"):
        t = rows.get((case, th, "timeout"), []); c = rows.get((case, th, "cancel"), [])
        st = states.get((case, th, "timeout"), set()) | states.get((case, th, "cancel"), set())
        f = lambda v: "%.1f / %.1f" % (statistics.median(v), max(v)) if v else "-"
        print("| %s | %s | %s | %s | %s |" % (case, th, f(t), f(c), ",".join(sorted(st))))
PY
