#!/usr/bin/env bash
# Shards through postgres_fdw (README "Scaling out"): three clusters in a
# temporary directory, as user postgres, on Unix sockets there (ports
# SHARDS_COORD_PORT 55451, SHARDS_SHARD1_PORT 55452, SHARDS_SHARD2_PORT 55453).
# The coordinator has postgres_fdw and seqmodel but no model; its partitioned
# tables have foreign tables on two shards as partitions: readings (series, t,
# value) of SHARDS_SERIES (16) windows of the Mauna Loa CO2 record,
# series_model (series, model), the 300 held-out langid texts, and two views
# per shard (text_scores: label and classify of each text; forecasts: one
# batched forecast_query).  The shards get the models (the CO2 LSTM, the
# langid BERT with its tokenizer) by logical replication of the catalog
# tables from a registry database on the coordinator's cluster; a database
# "single" there imports the same files and holds every row: the
# single-server reference.
# Checks: the shards' models equal the registry's byte for byte; EXPLAIN
# (VERBOSE) shows forecast_agg ... GROUP BY series sent to the shards as Async
# Foreign Scans (servers with extensions 'seqmodel', async_capable,
# use_remote_estimate), and the views read the same way; the results equal
# the single server's exactly; both shards work at once (while shard 1's
# remote query waits on a lock of its model catalog, shard 2's has run: with
# async_capable, and not without); what PG 15 does not send (forecast_agg with
# a constant model name, STABLE functions such as label() and forecast() over
# foreign scans, anything through a server without extensions 'seqmodel') is
# aggregated or evaluated on the coordinator; a shard without the model relays
# its error naming the model, and serves once the model is copied there
# (export_safetensors piped through COPY into import_safetensors).
# Timings are printed as "#" lines, never checked.
# Prints one line per check and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)
. "$root/test/t/lib/cluster.sh"
dir=$(t_tmpdir shards)
c_port=${SHARDS_COORD_PORT:-55451}
s1_port=${SHARDS_SHARD1_PORT:-55452}
s2_port=${SHARDS_SHARD2_PORT:-55453}
nseries=${SHARDS_SERIES:-16}
bg_pids=""
cleanup() {
    for p in $bg_pids; do kill "$p" 2>/dev/null; done
    for c in shard1 shard2 coord; do as_pg "$bin/pg_ctl" -D "$dir/$c" -m immediate stop >/dev/null 2>&1; done
    rm -rf "$dir"
}
trap cleanup EXIT
q() { local port=$1 db=$2; shift 2
      as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "$@"; }
qc() { q "$c_port" postgres "$@"; }        # the coordinator
qr() { q "$c_port" registry "$@"; }        # the model registry (publisher)
qx() { q "$c_port" single "$@"; }          # the single-server reference
q1() { q "$s1_port" postgres "$@"; }
q2() { q "$s2_port" postgres "$@"; }

start() {  # start NAME PORT [extra postgresql.conf lines]
    as_pg "$bin/initdb" -D "$dir/$1" -A trust -U postgres >/dev/null 2>&1 || fail_all "initdb $1"
    cat >> "$dir/$1/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $2
${3:-}
EOF
    as_pg "$bin/pg_ctl" -D "$dir/$1" -l "$dir/$1.log" -w start >/dev/null || fail_all "$1 starts"
}
start coord "$c_port" "wal_level = logical"
start shard1 "$s1_port"
start shard2 "$s2_port"

data=$root/test/data
import_models="
SELECT seqmodel.import_safetensors_file('co2', 'lstm', pg_read_file('$data/co2_lstm.json')::jsonb, '$data/co2_lstm.safetensors');
SELECT seqmodel.import_safetensors_file('langid', 'bert', pg_read_file('$data/langid_config.json')::jsonb, '$data/langid.safetensors');
SELECT seqmodel.import_tokenizer('langid', pg_read_file('$data/langid_tokenizer.json'));"
# the rows, built the same way wherever they go: series s is 240 months of
# the CO2 record from month 15 ((s - 1) mod 20) + 1 on, offset by s / 4 ppm
source_rows="
CREATE TEMP TABLE co2 (month date, ppm float8);
COPY co2 FROM '$data/co2_monthly.csv' WITH (FORMAT csv, HEADER true);
CREATE TEMP TABLE src_readings AS
  SELECT s AS series, (c.n - 15 * ((s - 1) % 20))::int AS t, (c.ppm + s / 4.0)::real AS value
    FROM generate_series(1, $nseries) s,
         (SELECT row_number() OVER (ORDER BY month) AS n, ppm FROM co2) c
   WHERE c.n - 15 * ((s - 1) % 20) BETWEEN 1 AND 240;
CREATE TEMP TABLE samples (id int, lang text, text text);
COPY samples FROM '$data/langid_samples.csv' WITH (FORMAT csv, HEADER true);"

# the registry: the models imported once, published; the single server
qc >/dev/null <<SQL || fail_all "registry and single-server databases"
CREATE DATABASE registry;
CREATE DATABASE single;
SQL
qr >/dev/null <<SQL || fail_all "models import into the registry"
CREATE EXTENSION seqmodel;
$import_models
CREATE PUBLICATION sm_models FOR TABLE seqmodel.model, seqmodel.tensor, seqmodel.tokenizer, seqmodel.model_grant;
SQL
qx >/dev/null <<SQL || fail_all "single-server setup"
CREATE EXTENSION seqmodel;
$import_models
$source_rows
CREATE TABLE readings AS SELECT * FROM src_readings;
CREATE TABLE series_model AS SELECT DISTINCT series, 'co2'::text AS model FROM src_readings;
CREATE TABLE texts AS SELECT id, text FROM samples;
SQL

# each shard: the extension, its partition's tables and views, a subscription
for i in 1 2; do
    port=$([ $i -eq 1 ] && echo "$s1_port" || echo "$s2_port")
    q "$port" postgres >/dev/null <<SQL || fail_all "shard $i setup"
SET client_min_messages = warning;
CREATE EXTENSION seqmodel;
CREATE TABLE readings_$i (series int NOT NULL, t int NOT NULL, value real NOT NULL);
CREATE TABLE series_model_$i (series int PRIMARY KEY, model text NOT NULL);
CREATE TABLE texts_$i (id int PRIMARY KEY, text text NOT NULL);
CREATE VIEW text_scores_$i AS
  SELECT id, seqmodel.label('langid', text) AS label, seqmodel.classify('langid', text) AS probs FROM texts_$i;
CREATE VIEW forecasts_$i AS
  SELECT series::int AS series, step, value
    FROM seqmodel.forecast_query('co2', 'SELECT series, value FROM public.readings_$i ORDER BY series, t', 12);
CREATE SUBSCRIPTION sm_models_$i CONNECTION 'host=$dir port=$c_port dbname=registry user=postgres'
    PUBLICATION sm_models;
SQL
done
# a database on shard 2's cluster with the extension and the rows, but no model
q "$s2_port" postgres -c "CREATE DATABASE bare" >/dev/null || fail_all "bare database"
q "$s2_port" bare >/dev/null <<SQL || fail_all "bare database setup"
CREATE EXTENSION seqmodel;
CREATE TABLE readings_2 (series int NOT NULL, t int NOT NULL, value real NOT NULL);
CREATE TABLE series_model_2 (series int PRIMARY KEY, model text NOT NULL);
SQL

# the coordinator: servers, partitioned tables over foreign tables, the rows
qc >/dev/null <<SQL || fail_all "coordinator setup"
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION seqmodel;
CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$dir', port '$s1_port', dbname 'postgres', extensions 'seqmodel', async_capable 'true', use_remote_estimate 'true',
             fetch_size '1000', batch_size '1000', options '-c seqmodel.truncation=truncate');
CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$dir', port '$s2_port', dbname 'postgres', extensions 'seqmodel', async_capable 'true', use_remote_estimate 'true',
             fetch_size '1000', batch_size '1000', options '-c seqmodel.truncation=truncate');
-- the same shard 1 without extensions 'seqmodel'; shard 2's database without models
CREATE SERVER shard1_noext FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$dir', port '$s1_port', dbname 'postgres', async_capable 'true', use_remote_estimate 'true');
CREATE SERVER shard2_bare FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '$dir', port '$s2_port', dbname 'bare', extensions 'seqmodel', use_remote_estimate 'true');
CREATE USER MAPPING FOR postgres SERVER shard1 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard2 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard1_noext OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER shard2_bare OPTIONS (user 'postgres');
CREATE TABLE readings (series int NOT NULL, t int NOT NULL, value real NOT NULL) PARTITION BY HASH (series);
CREATE FOREIGN TABLE readings_1 PARTITION OF readings FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE readings_2 PARTITION OF readings FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2;
CREATE TABLE series_model (series int NOT NULL, model text NOT NULL) PARTITION BY HASH (series);
CREATE FOREIGN TABLE series_model_1 PARTITION OF series_model FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE series_model_2 PARTITION OF series_model FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2;
CREATE TABLE texts (id int NOT NULL, text text NOT NULL) PARTITION BY HASH (id);
CREATE FOREIGN TABLE texts_1 PARTITION OF texts FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE texts_2 PARTITION OF texts FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2;
CREATE TABLE text_scores (id int NOT NULL, label text, probs real[]) PARTITION BY HASH (id);
CREATE FOREIGN TABLE text_scores_1 PARTITION OF text_scores FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE text_scores_2 PARTITION OF text_scores FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2;
CREATE TABLE forecasts (series int NOT NULL, step int, value real) PARTITION BY HASH (series);
CREATE FOREIGN TABLE forecasts_1 PARTITION OF forecasts FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER shard1;
CREATE FOREIGN TABLE forecasts_2 PARTITION OF forecasts FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER shard2;
CREATE FOREIGN TABLE readings_noext (series int, t int, value real) SERVER shard1_noext OPTIONS (table_name 'readings_1');
CREATE FOREIGN TABLE series_model_noext (series int, model text) SERVER shard1_noext OPTIONS (table_name 'series_model_1');
CREATE FOREIGN TABLE readings_bare (series int, t int, value real) SERVER shard2_bare OPTIONS (table_name 'readings_2');
CREATE FOREIGN TABLE series_model_bare (series int, model text) SERVER shard2_bare OPTIONS (table_name 'series_model_2');
$source_rows
INSERT INTO readings SELECT * FROM src_readings;
INSERT INTO series_model SELECT DISTINCT series, 'co2' FROM src_readings;
INSERT INTO texts SELECT id, text FROM samples;
INSERT INTO readings_bare SELECT * FROM readings_2;
INSERT INTO series_model_bare SELECT * FROM series_model_2;
ANALYZE readings, series_model, texts, readings_noext, series_model_noext, readings_bare, series_model_bare;
ALTER DATABASE postgres SET enable_partitionwise_aggregate = on;
ALTER DATABASE postgres SET enable_partitionwise_join = on;
SQL

q1 -c "ANALYZE" && q2 -c "ANALYZE" && q "$s2_port" bare -c "ANALYZE" || fail_all "ANALYZE on the shards"

# the models reach the shards
for i in 1 2; do
    synced=f
    for _ in $(seq 1 300); do
        synced=$(q "$([ $i -eq 1 ] && echo "$s1_port" || echo "$s2_port")" postgres \
            -c "SELECT count(*) > 0 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel")
        [ "$synced" = t ] && break
        sleep 0.1
    done
    check "shard $i has copied the catalog tables from the registry" t "$synced"
done
fingerprint="SELECT string_agg(m.name || ' ' || m.arch || ' ' || m.version || ' ' || md5(m.config::text) || ' '
    || md5(seqmodel.export_safetensors(m.name)) || ' ' || coalesce(md5(t.definition), '-'), '; ' ORDER BY m.name)
  FROM seqmodel.model m LEFT JOIN seqmodel.tokenizer t ON t.model = m.name"
reg=$(qr -c "$fingerprint")
check "shard 1's models equal the registry's (weights, config, tokenizer, version)" "$reg" "$(q1 -c "$fingerprint")"
check "shard 2's models equal the registry's (weights, config, tokenizer, version)" "$reg" "$(q2 -c "$fingerprint")"
# the single server imported the same files itself: the same but for the version
strip_version() { sed -E 's/ (bert|lstm) [0-9]+ / \1 /g'; }
check "the single server's models equal the registry's (imported from the same files)" \
    "$(echo "$reg" | strip_version)" "$(qx -c "$fingerprint" | strip_version)"
check "the coordinator holds no model" 0 "$(qc -c "SELECT count(*) FROM seqmodel.model")"
check "each shard holds some of the series, all together every row" "t t $((nseries * 240))" \
    "$(qc -c "SELECT (SELECT count(*) > 0 FROM readings_1), (SELECT count(*) > 0 FROM readings_2), (SELECT count(*) FROM readings)" | tr '|' ' ')"
check "each shard holds some of the texts, all together 300" "t t 300" \
    "$(qc -c "SELECT (SELECT count(*) > 0 FROM texts_1), (SELECT count(*) > 0 FROM texts_2), (SELECT count(*) FROM texts)" | tr '|' ' ')"

# --- per-series forecasts: forecast_agg ... GROUP BY series on the shards
fagg="SELECT r.series, seqmodel.forecast_agg(m.model, r.value, 12 ORDER BY r.t) AS forecast
  FROM readings r JOIN series_model m USING (series) GROUP BY r.series"
# the forecasts of a query as one line: how many, and the md5 of "series:array" in series order
listed() { echo "SELECT count(*) || ' ' || md5(string_agg(series || ':' || forecast::text, ' ' ORDER BY series)) FROM ($1) f"; }
plan=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) $fagg")
echo "$plan" | sed 's/^/#   /'
check "forecast_agg GROUP BY series: one Async Foreign Scan of an aggregate per shard" "2 2" \
    "$(echo "$plan" | grep -c '^ *->  Async Foreign Scan$') $(echo "$plan" | grep -c 'Relations: Aggregate on ((public.readings_[12] r.*) INNER JOIN (public.series_model_[12] m.*))')"
check "forecast_agg GROUP BY series: the shards run forecast_agg (Remote SQL), nothing aggregates here" "2 0" \
    "$(echo "$plan" | grep -c 'Remote SQL: SELECT .*seqmodel.forecast_agg(r[0-9]*.model, r[0-9]*.value, 12 ORDER BY r[0-9]*.t ASC NULLS LAST) FROM .* GROUP BY 1$') $(echo "$plan" | grep -cE 'GroupAggregate|HashAggregate')"
single=$(qx -c "$(listed "$fagg")")
check "the shards' forecasts equal the single server's exactly ($nseries series)" "$single" "$(qc -c "$(listed "$fagg")")"
check "the single server's forecasts are $nseries arrays of 12" "$nseries t" \
    "$(qx -c "SELECT count(*), bool_and(array_length(forecast, 1) = 12) FROM ($fagg) f" | tr '|' ' ')"

# why forecast_agg may be sent and label() may not: postgres_fdw ships no
# expression with a function that is not IMMUTABLE, and reads an aggregate's own
# pg_proc entry (IMMUTABLE, as CREATE AGGREGATE makes it), not its final function's
check "forecast_agg's pg_proc entry is IMMUTABLE, its final function and label() STABLE" "i s s" \
    "$(qc -c "SELECT (SELECT string_agg(DISTINCT provolatile::text, ',') FROM pg_proc WHERE oid = 'seqmodel.forecast_agg(text, real, integer)'::regprocedure),
                     (SELECT provolatile FROM pg_proc WHERE oid = 'seqmodel.forecast_agg_final(internal)'::regprocedure),
                     (SELECT provolatile FROM pg_proc WHERE oid = 'seqmodel.label(text, text)'::regprocedure)" | tr '|' ' ')"

# a constant model name: PG 15's postgres_fdw ships an aggregate only if its
# collatable inputs take their collation from a foreign column, and a text
# constant's does not; so the coordinator aggregates (and has no model)
fconst="SELECT series, seqmodel.forecast_agg('co2', value, 12 ORDER BY t) FROM readings GROUP BY series"
plan_c=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) $fconst")
echo "$plan_c" | sed 's/^/#   /'
check "forecast_agg('co2', ...): aggregated on the coordinator, the shards only scan" "2 2 0" \
    "$(echo "$plan_c" | grep -cE '^ *->  (GroupAggregate|HashAggregate)$') $(echo "$plan_c" | grep -c 'Remote SQL: SELECT series, t, value FROM public.readings_[12]') $(echo "$plan_c" | grep -c 'Remote SQL: .*forecast_agg')"
err=$(qc -c "$fconst" 2>&1 >/dev/null)
check "forecast_agg('co2', ...) runs here: the coordinator's error, not a shard's" "t" \
    "$(echo "$err" | grep -q 'model "co2" does not exist' && ! echo "$err" | grep -q 'remote SQL' && echo t || echo "$err")"

# forecast() (STABLE) over a shipped array_agg: the shards build the arrays, the coordinator forecasts
plan_a=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT r.series, seqmodel.forecast(m.model, array_agg(r.value ORDER BY r.t), 12)
  FROM readings r JOIN series_model m USING (series) GROUP BY r.series, m.model")
echo "$plan_a" | sed 's/^/#   /'
check "forecast(model, array_agg(...)): array_agg sent, forecast() evaluated here" "2 2 0" \
    "$(echo "$plan_a" | grep -c 'Remote SQL: SELECT .*array_agg(r[0-9]*.value ORDER BY r[0-9]*.t ASC NULLS LAST)') $(echo "$plan_a" | grep -c 'Output: .*seqmodel.forecast(m.*.model, (array_agg(') $(echo "$plan_a" | grep -c 'Remote SQL: .*seqmodel.forecast')"

# EXPLAIN ANALYZE and timings: the whole query against each shard's part alone
an=$(qc -c "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) $fagg")
check "EXPLAIN ANALYZE: both Async Foreign Scans ran, returning every series" "2 $nseries" \
    "$(echo "$an" | grep -c 'Async Foreign Scan (actual') $(echo "$an" | sed -n 's/.*Async Foreign Scan (actual time=[0-9.]* rows=\([0-9]*\).*/\1/p' | awk '{ n += $1 } END { print n }')"
exec_ms() { sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' | tr '\n' ' '; }
timings() {  # timings QUERY PART1 PART2: "all part1 part2" in ms, each after a warm-up run in one session
    qc -c "EXPLAIN ANALYZE $1" -c "EXPLAIN ANALYZE $1" -c "EXPLAIN ANALYZE $2" -c "EXPLAIN ANALYZE $3" \
       -c "EXPLAIN ANALYZE $2" -c "EXPLAIN ANALYZE $3" | exec_ms | awk '{ print $2, $5, $6 }'
}
part() { echo "SELECT r.series, seqmodel.forecast_agg(m.model, r.value, 12 ORDER BY r.t) AS forecast FROM readings_$1 r JOIN series_model_$1 m USING (series) GROUP BY r.series"; }
read -r t_all t_p1 t_p2 <<< "$(timings "$fagg" "$(part 1)" "$(part 2)")"
echo "# forecast_agg over $nseries series (warm): both shards $t_all ms; shard 1 alone $t_p1 ms, shard 2 alone $t_p2 ms"

# Both shards at once, shown without a clock: a session on shard 1 locks its
# model catalog, so shard 1's remote forecast_agg waits for the lock; with
# async_capable shard 2 has already been sent and run its FETCH meanwhile;
# without it shard 2 waits for shard 1's part (the Append's first child).
first=$(echo "$plan" | grep -m1 -o 'public.readings_[12]')
check "the Append's first child is shard 1's partition" public.readings_1 "$first"
blocked_run() {  # blocked_run TAG: prints what shard 2's fdw backend ran while shard 1 waited, then the result
    local tag=$1
    PGAPPNAME=sm_locker as_pg "$bin/psql" -X -q -At -h "$dir" -p "$s1_port" -U postgres -d postgres \
        -c "BEGIN" -c "LOCK TABLE seqmodel.model IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
    local locker=$!; bg_pids="$bg_pids $locker"
    for _ in $(seq 1 100); do
        [ "$(q1 -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'sm_locker' AND l.granted AND l.mode = 'AccessExclusiveLock' AND l.relation = 'seqmodel.model'::regclass")" = 1 ] && break
        sleep 0.05
    done
    PGOPTIONS="-c statement_timeout=60s" as_pg "$bin/psql" -X -q -At -h "$dir" -p "$c_port" -U postgres -d postgres \
        -c "$(listed "$fagg")" > "$dir/blocked-$tag.out" 2>&1 &
    local query=$!; bg_pids="$bg_pids $query"
    local waiting=0
    for _ in $(seq 1 200); do
        waiting=$(q1 -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'postgres_fdw' AND wait_event_type = 'Lock'")
        [ "$waiting" = 1 ] && break
        sleep 0.05
    done
    # shard 2's fdw backend: with async its FETCH is done (polled for); without, it is
    # never sent while shard 1 waits (so a second's look is enough)
    local s2 seen="SELECT coalesce(string_agg(state || ': ' || split_part(query, ' FROM', 1), ', '), 'none')
                     FROM pg_stat_activity WHERE application_name = 'postgres_fdw' AND state <> 'idle'"
    if [ "$tag" = async ]; then
        for _ in $(seq 1 200); do
            s2=$(q2 -c "$seen")
            [ "$s2" = "idle in transaction: FETCH 1000" ] && break
            sleep 0.1
        done
    else
        sleep 1; s2=$(q2 -c "$seen")
    fi
    q1 -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'sm_locker'" >/dev/null
    wait "$query"; wait "$locker"
    echo "$waiting|$s2"
}
out=$(blocked_run async)
check "async: shard 1's part waits for its lock" 1 "${out%%|*}"
check "async: meanwhile shard 2 has run its part (FETCH done, idle in its transaction)" "idle in transaction: FETCH 1000" "${out#*|}"
check "async: the result, once shard 1 goes on, is the single server's" "$single" "$(cat "$dir/blocked-async.out")"
qc >/dev/null -c "ALTER SERVER shard1 OPTIONS (SET async_capable 'false')" -c "ALTER SERVER shard2 OPTIONS (SET async_capable 'false')"
plan_s=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) $fagg")
check "without async_capable: plain Foreign Scans, still pushed down" "0 2" \
    "$(echo "$plan_s" | grep -c 'Async Foreign Scan') $(echo "$plan_s" | grep -c 'Remote SQL: .*seqmodel.forecast_agg')"
out=$(blocked_run sync)
echo "# sync: shard 2's fdw backend while shard 1 waited: ${out#*|}"
check "sync: shard 1's part waits for its lock" 1 "${out%%|*}"
check "sync: meanwhile shard 2 has not been sent its part" t \
    "$(echo "${out#*|}" | grep -q 'FETCH' && echo "${out#*|}" || echo t)"
check "sync: the result is the same" "$single" "$(cat "$dir/blocked-sync.out")"
qc >/dev/null -c "ALTER SERVER shard1 OPTIONS (SET async_capable 'true')" -c "ALTER SERVER shard2 OPTIONS (SET async_capable 'true')"

# --- batched forecasts: forecast_query in a view on each shard
fq_coord="SELECT count(*) || ' ' || md5(string_agg(series || ':' || step || ':' || value, ' ' ORDER BY series, step)) FROM forecasts"
fq_single="SELECT count(*) || ' ' || md5(string_agg(series || ':' || step || ':' || value, ' ' ORDER BY series::int, step))
  FROM seqmodel.forecast_query('co2', 'SELECT series, value FROM readings ORDER BY series, t', 12)"
plan_f=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM forecasts")
check "forecasts (forecast_query in a view on each shard): an Async Foreign Scan per shard" "2 2" \
    "$(echo "$plan_f" | grep -c 'Async Foreign Scan on public.forecasts_[12]') $(echo "$plan_f" | grep -c 'Remote SQL: SELECT series, step, value FROM public.forecasts_[12]$')"
fq=$(qx -c "$fq_single")
check "the shards' batched forecasts equal the single server's forecast_query" "$fq" "$(qc -c "$fq_coord")"
check "the batched forecasts equal forecast_agg's" "$single" \
    "$(qc -c "$(listed "SELECT series, array_agg(value ORDER BY step) AS forecast FROM forecasts GROUP BY series")")"
plan_f3=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM forecasts WHERE series = 3")
check "forecasts of one series: one shard asked, the filter sent with it" "1 1" \
    "$(echo "$plan_f3" | grep -c 'Foreign Scan on public.forecasts_') $(echo "$plan_f3" | grep -c 'Remote SQL: .* WHERE ((series = 3))')"

# --- text scoring: label and classify in a view on each shard
ts_coord="SELECT count(*) || ' ' || md5(string_agg(id || ':' || label || ':' || probs::text, ' ' ORDER BY id)) FROM text_scores"
ts_single="SET seqmodel.truncation = truncate; SELECT count(*) || ' ' || md5(string_agg(id || ':' || seqmodel.label('langid', text) || ':' || seqmodel.classify('langid', text)::text, ' ' ORDER BY id)) FROM texts"
plan_t=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id, label, probs FROM text_scores")
echo "$plan_t" | sed 's/^/#   /'
check "text_scores (label, classify in a view on each shard): an Async Foreign Scan per shard" "2 2" \
    "$(echo "$plan_t" | grep -c 'Async Foreign Scan on public.text_scores_[12]') $(echo "$plan_t" | grep -c 'Remote SQL: SELECT id, label, probs FROM public.text_scores_[12]$')"
ts=$(qx -c "$ts_single")
check "the shards' labels and probabilities equal the single server's (300 texts)" "$ts" "$(qc -c "$ts_coord")"
by_label="SELECT string_agg(label || ' ' || n, ', ' ORDER BY label) FROM (SELECT label, count(*) AS n FROM text_scores GROUP BY label) c"
check "texts per label equal the single server's" \
    "$(qx -c "SET seqmodel.truncation = truncate" -c "SELECT string_agg(label || ' ' || n, ', ' ORDER BY label) FROM (SELECT seqmodel.label('langid', text) AS label, count(*) AS n FROM texts GROUP BY 1) c")" \
    "$(qc -c "$by_label")"
plan_w=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM text_scores WHERE label = 'de'")
check "WHERE label = 'de' on text_scores: sent to both shards" 2 \
    "$(echo "$plan_w" | grep -c "Remote SQL: SELECT id FROM public.text_scores_[12] WHERE ((label = 'de'))$")"
read -r t_t t_t1 t_t2 <<< "$(timings "SELECT id, label, probs FROM text_scores" "SELECT id, label, probs FROM text_scores_1" "SELECT id, label, probs FROM text_scores_2")"
echo "# text_scores over 300 texts (warm): both shards $t_t ms; shard 1 alone $t_t1 ms, shard 2 alone $t_t2 ms"

# what PG 15 does not push: text functions (STABLE) over a foreign scan run here
plan_l=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id, seqmodel.label('langid', text) FROM texts")
echo "$plan_l" | sed 's/^/#   /'
check "label() in the select list of texts: evaluated here, the shards only send the text" "2 2" \
    "$(echo "$plan_l" | grep -c "Output: texts_[0-9]*.id, seqmodel.label('langid'::text, texts_[0-9]*.text)") $(echo "$plan_l" | grep -c 'Remote SQL: SELECT id, text FROM public.texts_[12]$')"
plan_lw=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM texts WHERE seqmodel.label('langid', text) = 'de'")
check "label() in WHERE on texts: filtered here" 2 \
    "$(echo "$plan_lw" | grep -c "Filter: (seqmodel.label('langid'::text, texts_[0-9]*.text) = 'de'::text)")"
err=$(qc -c "SELECT id, seqmodel.label('langid', text) FROM texts" 2>&1 >/dev/null)
check "label() over texts runs here: the coordinator's error, not a shard's" "t" \
    "$(echo "$err" | grep -q 'model "langid" does not exist' && ! echo "$err" | grep -q 'remote SQL' && echo t || echo "$err")"

# --- a server without extensions 'seqmodel': aggregated on the coordinator
noext="SELECT r.series, seqmodel.forecast_agg(m.model, r.value, 12 ORDER BY r.t) FROM readings_noext r JOIN series_model_noext m USING (series) GROUP BY r.series"
plan_n=$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) $noext")
echo "$plan_n" | sed 's/^/#   /'
check "server without extensions 'seqmodel': the join is sent, forecast_agg is not" "1 1 0" \
    "$(echo "$plan_n" | grep -cE '^(GroupAggregate|HashAggregate)$') $(echo "$plan_n" | grep -c 'Relations: (public.readings_noext r) INNER JOIN (public.series_model_noext m)') $(echo "$plan_n" | grep -c 'Remote SQL: .*forecast_agg')"

# --- a shard without the model: its error, naming the model, is relayed
bare="SELECT r.series, seqmodel.forecast_agg(m.model, r.value, 12 ORDER BY r.t) AS forecast FROM readings_bare r JOIN series_model_bare m USING (series) GROUP BY r.series"
check "the query to the shard without the model is pushed down" 1 \
    "$(qc -c "EXPLAIN (VERBOSE, COSTS OFF) $bare" | grep -c 'Remote SQL: .*seqmodel.forecast_agg')"
err=$(qc -c "$bare" 2>&1 >/dev/null)
check "a shard without the model: its error names the model, relayed with the remote SQL" "t" \
    "$(echo "$err" | grep -q 'ERROR:  model "co2" does not exist' && echo "$err" | grep -q 'remote SQL command' && echo t || echo "$err")"

# ... until the model is copied there: export_safetensors on the registry, piped
# through COPY into import_safetensors (and import_tokenizer, had it one) on the shard
qr -c "COPY (SELECT m.name, m.arch, m.config, seqmodel.export_safetensors(m.name), t.definition
             FROM seqmodel.model m LEFT JOIN seqmodel.tokenizer t ON t.model = m.name WHERE m.name = 'co2') TO STDOUT" \
  | q "$s2_port" bare -c "CREATE TEMP TABLE incoming (name text, arch text, config jsonb, weights bytea, tokenizer text)" \
        -c "COPY incoming FROM STDIN" \
        -c "SELECT seqmodel.import_safetensors(name, arch, config, weights) FROM incoming" \
        -c "SELECT seqmodel.import_tokenizer(name, tokenizer) FROM incoming WHERE tokenizer IS NOT NULL" >/dev/null
check "the copied model equals the registry's (weights, config)" \
    "$(qr -c "$fingerprint" | sed 's/; langid.*//' | strip_version)" "$(q "$s2_port" bare -c "$fingerprint" | strip_version)"
check "the shard with the copied model gives shard 2's forecasts" \
    "$(qc -c "$(listed "$(part 2)")")" "$(qc -c "$(listed "$bare")")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
