#!/usr/bin/env bash
# Load: pgbench with many clients mixing predict, forecast_query, classify
# and score_query, then the same while another session replaces a model
# every LOAD_REPLACE_EVERY seconds.  Checks: no client fails, every predict
# during the replacements returns the old model's answer or the new one's
# (never a mix, never an error), and no backend's memory keeps growing (its
# RSS sampled every second: the last third's peak may not exceed the first
# third's by more than LOAD_RSS_SLACK_MB).  Prints the throughput and the
# RSS per backend over time.  Run inside a cluster (test/run-tests runs it
# under pg_virtualenv, short); the long run, the documented target:
#
#   LOAD_SECONDS=600 pg_virtualenv -t bash test/t/load.sh
#
# Knobs: LOAD_CLIENTS (32), LOAD_SECONDS (15 per run), LOAD_REPLACE_EVERY (2),
# LOAD_RSS_SLACK_MB (64), LOAD_OUT (a directory for the logs; default a temp dir).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
clients=${LOAD_CLIENTS:-32}
seconds=${LOAD_SECONDS:-15}
every=${LOAD_REPLACE_EVERY:-2}
slack=${LOAD_RSS_SLACK_MB:-64}
out=${LOAD_OUT:-$(mktemp -d /tmp/seqmodel-load.XXXXXX)}
mkdir -p "$out"; chmod 777 "$out"
passed=0; failed=0
check() {  # check NAME EXPECTED ACTUAL (an empty answer never passes)
    if [ -n "$2" ] && [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok - $1"
    else failed=$((failed + 1)); echo "not ok - $1: expected [$2], got [$3]"; fi
}
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
db=sm_load
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || { echo "0 passed, 1 failed"; exit 1; }

fix=$root/test/fixtures
data=$root/test/data
q -d "$db" >/dev/null <<SQL || { echo "not ok - load setup"; echo "0 passed, 1 failed"; exit 1; }
\\set cfg_langid \`cat '$data/langid_config.json'\`
\\set tok_langid \`cat '$data/langid_tokenizer.json'\`
\\set cfg_co2 \`cat '$data/co2_lstm.json'\`
CREATE EXTENSION seqmodel;
\\lo_import '$fix/linear.safetensors'
\\set oid_a :LASTOID
\\lo_import '$fix/linear_f16.safetensors'
\\set oid_b :LASTOID
CREATE TABLE lin_a AS SELECT lo_get(:oid_a) AS st;
CREATE TABLE lin_b AS SELECT lo_get(:oid_b) AS st;
SELECT lo_unlink(:oid_a), lo_unlink(:oid_b);
SELECT seqmodel.import_safetensors('lin', 'linear', '{"in_features": 5, "out_features": 3}', (SELECT st FROM lin_a));
\\lo_import '$data/co2_lstm.safetensors'
SELECT seqmodel.import_safetensors('co2', 'lstm', (:'cfg_co2')::jsonb, lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
\\lo_import '$data/langid.safetensors'
SELECT seqmodel.import_safetensors('langid', 'bert', (:'cfg_langid')::jsonb, lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
SELECT seqmodel.import_tokenizer('langid', :'tok_langid');
-- the two answers predict may give while lin is replaced
CREATE TABLE lin_answers (y text PRIMARY KEY);
INSERT INTO lin_answers SELECT seqmodel.predict('lin', '{1,2,3,4,5}')::text;
CREATE TABLE series AS
  SELECT s, t, (330 + 5 * sin(t / 1.9 + s) + t * 0.1)::real AS v FROM generate_series(1, 20) s, generate_series(1, 120) t;
CREATE TABLE texts (id int, body text);
INSERT INTO texts VALUES (1, 'Das ist ein kleiner Test.'), (2, 'This is a small test.'), (3, 'Ceci est un petit test.'),
  (4, 'Esto es una pequeña prueba.'), (5, 'Questo è un piccolo test.'), (6, 'Dit is een kleine test.'),
  (7, 'To jest mały test.'), (8, 'Это небольшой тест.');
SQL
# lin's other answer: import B under another name, ask, drop
q -d "$db" -c "SELECT seqmodel.import_safetensors('lin_probe', 'linear', '{\"in_features\": 5, \"out_features\": 3}', (SELECT st FROM lin_b))" \
  -c "INSERT INTO lin_answers SELECT seqmodel.predict('lin_probe', '{1,2,3,4,5}')::text" \
  -c "SELECT seqmodel.drop_model('lin_probe')" >/dev/null
check "the two versions of lin answer differently" 2 "$(q -d "$db" -c "SELECT count(*) FROM lin_answers")"

# the pgbench scripts: one per function; predict checks its answer (1/0 otherwise)
cat > "$out/predict.sql" <<'EOF'
SELECT 1 / (SELECT count(*) FROM lin_answers WHERE y = seqmodel.predict('lin', '{1,2,3,4,5}')::text)::int;
EOF
cat > "$out/forecast_query.sql" <<'EOF'
\set s random(1, 16)
SELECT count(*) FROM seqmodel.forecast_query('co2', format('SELECT s, v FROM series WHERE s BETWEEN %s AND %s ORDER BY s, t', :s, :s + 4), 12);
EOF
cat > "$out/classify.sql" <<'EOF'
\set id random(1, 8)
SELECT seqmodel.label('langid', body) FROM texts WHERE id = :id;
EOF
cat > "$out/score_query.sql" <<'EOF'
SELECT count(*) FROM seqmodel.score_query('langid', 'classify', 'SELECT id, body FROM texts');
EOF
chmod a+r "$out"/*.sql

# RSS (kB) of every backend of the run, each second, until the file "$out/stop" appears
sample_rss() {
    local tag=$1
    : > "$out/rss-$tag.txt"
    local t=0
    while [ ! -e "$out/stop" ]; do
        for pid in $(q -d "$db" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'" 2>/dev/null); do
            rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
            pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
            [ -n "$rss" ] && echo "$t $pid $rss ${pss:-0}" >> "$out/rss-$tag.txt"
        done
        t=$((t + 1)); sleep 1
    done
}
# per backend: peak RSS in the first and the last third of the run; the worst growth
rss_report() {
    awk -v n="$seconds" '
        { t = $1; pid = $2; r = $3; if (t < n / 3) { if (r > a[pid]) a[pid] = r }
          else if (t >= 2 * n / 3) { if (r > b[pid]) b[pid] = r }
          if (r > peak) peak = r; if ($4 > ppeak) ppeak = $4; seen[pid] = 1 }
        END { g = 0; for (p in b) if (p in a && b[p] - a[p] > g) g = b[p] - a[p]
              m = 0; for (p in seen) m++
              printf "%d %d %d %d\n", m, peak / 1024, ppeak / 1024, g / 1024 }' "$1"
}

run() {  # run TAG: pgbench over the four scripts; prints its summary into $out/pgbench-TAG.txt
    local tag=$1
    rm -f "$out/stop"
    sample_rss "$tag" &
    local sampler=$!
    pgbench -n -d "$db" -c "$clients" -j 2 -T "$seconds" \
        -f "$out/predict.sql@4" -f "$out/forecast_query.sql@2" -f "$out/classify.sql@3" -f "$out/score_query.sql@1" \
        > "$out/pgbench-$tag.txt" 2>&1
    local rc=$?
    touch "$out/stop"; wait "$sampler"
    return $rc
}

echo "# $clients clients, $seconds s per run"
run plain; rc=$?
check "pgbench without replacements: no client failed" "0 0" "$rc $(grep -c 'aborted\|ERROR' "$out/pgbench-plain.txt")"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench-plain.txt")
read -r nb peak ppeak growth <<< "$(rss_report "$out/rss-plain.txt")"
echo "# plain: tps $tps; $nb backends; peak RSS $peak MB, peak PSS $ppeak MB per backend; worst growth last vs first third $growth MB"
check "no backend's memory grows by more than $slack MB (plain)" t "$([ -n "$growth" ] && [ "$growth" -le "$slack" ] && echo t || echo "$growth MB")"

# the same while lin is replaced every $every s (each replacement one transaction)
(
    i=0
    while [ ! -e "$out/replacer-stop" ]; do
        src=$([ $((i % 2)) -eq 0 ] && echo lin_b || echo lin_a)
        q -d "$db" -c "BEGIN" -c "SELECT seqmodel.drop_model('lin')" \
          -c "SELECT seqmodel.import_safetensors('lin', 'linear', '{\"in_features\": 5, \"out_features\": 3}', (SELECT st FROM $src))" \
          -c "COMMIT" >/dev/null 2>>"$out/replacer.err" && echo ok >> "$out/replacements.txt"
        i=$((i + 1)); sleep "$every"
    done
) &
replacer=$!
rm -f "$out/replacer-stop" "$out/replacements.txt"
run replace; rc=$?
touch "$out/replacer-stop"; wait "$replacer"
n_repl=$(wc -l < "$out/replacements.txt" 2>/dev/null || echo 0)
check "pgbench while lin is replaced: no client failed, every predict the old or the new answer" "0 0" \
    "$rc $(grep -c 'aborted\|ERROR' "$out/pgbench-replace.txt")"
check "the replacements ran" t "$([ "$n_repl" -ge 2 ] && [ ! -s "$out/replacer.err" ] && echo t || echo "$n_repl replacements; $(head -3 "$out/replacer.err" 2>/dev/null)")"
tps2=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench-replace.txt")
read -r nb2 peak2 ppeak2 growth2 <<< "$(rss_report "$out/rss-replace.txt")"
echo "# replacing lin every $every s ($n_repl replacements): tps $tps2; peak RSS $peak2 MB, peak PSS $ppeak2 MB per backend; worst growth $growth2 MB"
check "no backend's memory grows by more than $slack MB (replacing)" t "$([ -n "$growth2" ] && [ "$growth2" -le "$slack" ] && echo t || echo "$growth2 MB")"
grep -E '^(tps|number of transactions|latency average)' "$out/pgbench-plain.txt" "$out/pgbench-replace.txt" | sed 's/^/# /'
dropdb "$db" >/dev/null 2>&1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
