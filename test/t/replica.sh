#!/usr/bin/env bash
# Models follow physical replication: a primary and a streaming hot standby
# (pg_basebackup -R) on loopback, in a temporary directory, as user
# postgres.  Models imported on the primary (a linear model, the CO2 LSTM,
# the language-identification BERT with its tokenizer) serve predict,
# forecast and classify on the standby with the primary's answers; a model
# replaced on the primary is seen by the same standby backend after replay
# (its cache checks the model's version per statement, so it never runs
# the stale copy); importing on the standby is refused (read-only, 25006).
# And logical replication of the catalog tables (seqmodel.model, tensor,
# tokenizer) into a database with the extension: the subscriber serves the
# models too, and follows a replacement.
# Prints one line per check and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. "$root/test/t/lib/cluster.sh"
dir=$(t_tmpdir replica)
p_port=${REPLICA_PRIMARY_PORT:-55441}
s_port=${REPLICA_STANDBY_PORT:-55442}
cleanup() {
    as_pg "$bin/psql" -X -q -h "$dir" -p "$p_port" -d sm_sub -c "ALTER SUBSCRIPTION sm_sub DISABLE" >/dev/null 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/standby" -m immediate stop >/dev/null 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/primary" -m immediate stop >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
qp() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$p_port" -d postgres "$@"; }
qs() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$s_port" -d postgres "$@"; }

as_pg "$bin/initdb" -D "$dir/primary" -A trust -U postgres >/dev/null 2>&1 || fail_all "initdb"
cat >> "$dir/primary/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $p_port
wal_level = logical
max_wal_senders = 8
EOF
as_pg "$bin/pg_ctl" -D "$dir/primary" -l "$dir/primary.log" -w start >/dev/null || fail_all "primary starts"
as_pg "$bin/pg_basebackup" -h "$dir" -p "$p_port" -U postgres -D "$dir/standby" -R -X stream >/dev/null 2>&1 \
    || fail_all "pg_basebackup"
cat >> "$dir/standby/postgresql.conf" <<EOF
port = $s_port
hot_standby = on
EOF
as_pg "$bin/pg_ctl" -D "$dir/standby" -l "$dir/standby.log" -w start >/dev/null || fail_all "standby starts"

# wait until the standby has replayed everything the primary wrote so far
catch_up() {
    local lsn; lsn=$(qp -c "SELECT pg_current_wal_lsn()")
    for _ in $(seq 1 100); do
        [ "$(qs -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = "t" ] && return 0
        sleep 0.1
    done
    return 1
}

fix=$root/test/fixtures
data=$root/test/data
qp >/dev/null <<SQL || fail_all "models import on the primary"
CREATE EXTENSION seqmodel;
SELECT seqmodel.import_safetensors_file('lin', 'linear', '{"in_features": 5, "out_features": 3}', '$fix/linear.safetensors');
SELECT seqmodel.import_safetensors_file('co2_lstm', 'lstm', pg_read_file('$data/co2_lstm.json')::jsonb, '$data/co2_lstm.safetensors');
SELECT seqmodel.import_safetensors_file('langid', 'bert', pg_read_file('$data/langid_config.json')::jsonb, '$data/langid.safetensors');
SELECT seqmodel.import_tokenizer('langid', pg_read_file('$data/langid_tokenizer.json'));
SQL
catch_up || fail_all "the standby replays the imports"

# a logical subscriber (a database of the same cluster, so the slot is made first)
qsub() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$p_port" -d sm_sub "$@"; }
qp >/dev/null <<SQL || fail_all "publication of the catalog tables"
CREATE PUBLICATION sm_models FOR TABLE seqmodel.model, seqmodel.tensor, seqmodel.tokenizer;
SELECT pg_create_logical_replication_slot('sm_sub', 'pgoutput');
CREATE DATABASE sm_sub;
SQL
qsub >/dev/null <<SQL || fail_all "subscription of the catalog tables"
CREATE EXTENSION seqmodel;
CREATE SUBSCRIPTION sm_sub CONNECTION 'host=$dir port=$p_port dbname=postgres user=postgres'
    PUBLICATION sm_models WITH (create_slot = false, slot_name = 'sm_sub');
SQL
synced=f
for _ in $(seq 1 300); do
    synced=$(qsub -c "SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate <> 'r'")
    [ "$synced" = t ] && break
    sleep 0.1
done
check "the subscriber has copied the catalog tables" t "$synced"

predict="SELECT seqmodel.predict('lin', '{1,2,3,4,5}')"
forecast="SELECT seqmodel.forecast('co2_lstm', (SELECT array_agg((300 + 10 * sin(i / 2.0))::real ORDER BY i) FROM generate_series(1, 120) i), 12)"
classify="SELECT seqmodel.classify('langid', 'Das ist ein kleiner Test.')"
check "the standby is in recovery" t "$(qs -c "SELECT pg_is_in_recovery()")"
check "predict on the standby equals the primary" "$(qp -c "$predict")" "$(qs -c "$predict")"
check "forecast on the standby equals the primary" "$(qp -c "$forecast")" "$(qs -c "$forecast")"
check "classify on the standby equals the primary" "$(qp -c "$classify")" "$(qs -c "$classify")"
check "predict on the subscriber equals the primary" "$(qp -c "$predict")" "$(qsub -c "$predict")"
check "forecast on the subscriber equals the primary" "$(qp -c "$forecast")" "$(qsub -c "$forecast")"
check "classify on the subscriber equals the primary" "$(qp -c "$classify")" "$(qsub -c "$classify")"
check "the standby reports the same model version" "$(qp -c "SELECT version FROM seqmodel.model WHERE name = 'lin'")" \
    "$(qs -c "SELECT version FROM seqmodel.model WHERE name = 'lin'")"

# one standby backend: run (and cache) lin, let the primary replace it
# (psql's \! runs the shell command in between, in the same session), run again
replace="$bin/psql -X -q -At -h $dir -p $p_port -d postgres -c \"SELECT seqmodel.drop_model('lin')\" -c \"SELECT seqmodel.import_safetensors_file('lin', 'linear', '{\\\"in_features\\\": 5, \\\"out_features\\\": 3}', '$fix/linear_f16.safetensors')\" >/dev/null"
lsn_wait="for i in \$(seq 1 100); do [ \"\$($bin/psql -X -At -h $dir -p $s_port -d postgres -c \"SELECT pg_last_wal_replay_lsn() >= '\$($bin/psql -X -At -h $dir -p $p_port -d postgres -c 'SELECT pg_current_wal_lsn()')'::pg_lsn\")\" = t ] && break; sleep 0.1; done"
out=$(as_pg "$bin/psql" -X -q -At -h "$dir" -p "$s_port" -d postgres <<SQL 2>&1
SELECT seqmodel.predict('lin', '{1,2,3,4,5}');
SELECT pg_backend_pid();
\! $replace
\! $lsn_wait
SELECT seqmodel.predict('lin', '{1,2,3,4,5}');
SELECT pg_backend_pid();
SQL
)
before=$(echo "$out" | sed -n 1p); pid1=$(echo "$out" | sed -n 2p)
after=$(echo "$out" | sed -n 3p); pid2=$(echo "$out" | sed -n 4p)
new_primary=$(qp -c "$predict")
check "the same standby backend ran both" "$pid1" "$pid2"
check "the replaced model gives other answers" t "$([ -n "$before" ] && [ "$before" != "$new_primary" ] && echo t || echo "before $before new $new_primary")"
check "the standby backend runs the replaced model after replay, not its cached copy" "$new_primary" "$after"
check "the standby's cache holds the new version" "$(qp -c "SELECT version FROM seqmodel.model WHERE name = 'lin'")" \
    "$(qs -c "SELECT seqmodel.predict('lin', '{1,2,3,4,5}') IS NOT NULL; SELECT version FROM seqmodel.cache_info() WHERE model = 'lin'" | tail -1)"
# the subscriber follows the replacement (its cache too: it ran lin above)
sub_after=""
for _ in $(seq 1 100); do
    sub_after=$(qsub -c "$predict")
    [ "$sub_after" = "$new_primary" ] && break
    sleep 0.1
done
check "the subscriber runs the replaced model once it is applied" "$new_primary" "$sub_after"
err=$(qs -c "SELECT seqmodel.import_safetensors_file('lin2', 'linear', '{\"in_features\": 5, \"out_features\": 3}', '$fix/linear.safetensors')" 2>&1 >/dev/null)
check "importing on the standby is refused as read-only" t "$(echo "$err" | grep -q 'read-only transaction' && echo t || echo "$err")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
