#!/usr/bin/env bash
# The shared cache across sessions (src/pg/shared_cache.c), in a cluster of
# its own started with seqmodel preloaded and a small
# seqmodel.shared_cache_size (4MB), on a Unix socket in a temp directory,
# as user postgres:
#   - a model replaced while another session's transaction reads the old
#     copy: the new version is built beside it, the old one is kept
#     ("retired", 1 reader) until that transaction ends, then freed;
#   - more models than fit: the least recently used unread copies are
#     evicted, and every answer equals a session's own copy's
#     (seqmodel.shared_cache = off);
#   - a model larger than the whole area: the backend keeps its own copy
#     (a fallback), and answers the same;
#   - a session ended by pg_terminate_backend while it pins a copy: its pin
#     goes with it (readers back to 0);
#   - a parallel query: the workers read the same copy.
# Prints one line per check and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. "$root/test/t/lib/cluster.sh"
dir=$(t_tmpdir shared)
port=${SHARED_CACHE_PORT:-55461}
a_pid=
cleanup() {
    exec 3>&- 2>/dev/null
    [ -n "$a_pid" ] && kill "$a_pid" 2>/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
q() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }

as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null 2>&1 || fail_all "initdb"
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_preload_libraries = 'seqmodel'
seqmodel.shared_cache_size = '4MB'
max_parallel_workers_per_gather = 2
EOF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || fail_all "the server starts with the shared cache"

data=$root/test/data
fix=$root/test/fixtures
# the CO2 LSTM (45 kB shared), linear models of 512 x 512 (1 MB, with their
# packed copies about 2 MB each: one and a bit fit in 4 MB beside the LSTM)
# and one of 1100 x 1100 (larger than the area), written here
python3 - "$dir" <<'PY' || fail_all "the linear models' files"
import json, struct, sys
for name, n, scale in (("lin1", 512, 0.01), ("lin2", 512, 0.02), ("lin3", 512, 0.03), ("huge", 1100, 0.01)):
    h = json.dumps({"weight": {"dtype": "F32", "shape": [n, n], "data_offsets": [0, 4 * n * n]}}).encode()
    w = struct.pack("<%df" % (n * n), *[scale * ((i % 7) - 3) for i in range(n * n)])
    with open("%s/%s.safetensors" % (sys.argv[1], name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + w)
PY
chmod 644 "$dir"/*.safetensors
q >/dev/null <<SQL || fail_all "models import"
CREATE EXTENSION seqmodel;
SELECT seqmodel.import_safetensors_file('co2', 'lstm', pg_read_file('$data/co2_lstm.json')::jsonb, '$data/co2_lstm.safetensors');
SELECT seqmodel.import_safetensors_file(m, 'linear', jsonb_build_object('in_features', n, 'out_features', n, 'bias', false),
                                        '$dir/' || m || '.safetensors')
  FROM (VALUES ('lin1', 512), ('lin2', 512), ('lin3', 512), ('huge', 1100)) v(m, n);
SQL
[ "$(q -c "SELECT enabled FROM seqmodel.shared_cache_stats()")" = t ] || fail_all "the shared cache is on"
h='{330, 331, 332, 333, 334}'
own=$(q -c "SET seqmodel.shared_cache = off" -c "SELECT seqmodel.forecast('co2', '$h', 3)")

# 1. a replacement while another transaction reads the old copy
mkfifo "$dir/a_in"
chmod 666 "$dir/a_in"
as_pg "$bin/psql" -X -q -At -h "$dir" -p "$port" -d postgres < "$dir/a_in" > "$dir/a_out" 2>&1 &
a_pid=$!
exec 3>"$dir/a_in"
a() { echo "$1" >&3; }
a_wait() {
    for _ in $(seq 1 600); do grep -q "^$1\$" "$dir/a_out" && return 0; sleep 0.05; done
    echo "session A did not reach $1: $(cat "$dir/a_out")"; return 1
}
a "BEGIN;"; a "SELECT seqmodel.forecast('co2', '$h', 3);"; a '\echo A1'
a_wait A1
check "session A's forecast from the shared copy equals a copy of its own" "$own" "$(sed -n 1p "$dir/a_out")"
check "A's open transaction pins the copy" "ready|1" "$(q -c "SELECT state || '|' || readers FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"
q -c "SELECT seqmodel.import_safetensors_file('co2', 'lstm', pg_read_file('$data/co2_lstm.json')::jsonb || '{\"output_mean\": 0}', '$data/co2_lstm.safetensors', replace => true)" >/dev/null
new=$(q -c "SELECT seqmodel.forecast('co2', '$h', 3)")
check "another session sees the new version at once" "$(q -c "SET seqmodel.shared_cache = off" -c "SELECT seqmodel.forecast('co2', '$h', 3)")" "$new"
check "the new copy is built beside the old one, which stays while A reads it" "ready|0,retired|1" \
    "$(q -c "SELECT string_agg(state || '|' || readers, ',' ORDER BY version DESC) FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"
a "SELECT seqmodel.forecast('co2', '$h', 3);"; a '\echo A2'
a_wait A2
check "A's next statement runs the new version (read committed)" "$new" "$(sed -n 3p "$dir/a_out")"
a "COMMIT;"; a '\echo A3'
a_wait A3
check "at A's commit the old copy is freed" "ready|0" \
    "$(q -c "SELECT string_agg(state || '|' || readers, ',') FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"

# 2. more than fits: least recently used unread copies make room
x=$(q -c "SELECT array_agg(((i % 5) - 2)::real) FROM generate_series(1, 512) i")
same=t
for m in lin1 lin2 lin3 lin1 lin3 lin2; do
    s=$(q -c "SELECT seqmodel.predict('$m', '$x')")
    o=$(q -c "SET seqmodel.shared_cache = off" -c "SELECT seqmodel.predict('$m', '$x')")
    [ -n "$s" ] && [ "$s" = "$o" ] || same=f
done
check "six uses of three models that do not fit together: each answer equals a copy of the session's own" t "$same"
check "copies were evicted to make room" t "$(q -c "SELECT evictions > 0 FROM seqmodel.shared_cache_stats()")"
check "the area holds at most what it has" t "$(q -c "SELECT used_bytes <= size_bytes FROM seqmodel.shared_cache_stats()")"

# 3. larger than the whole area: a copy of the backend's own
xh=$(q -c "SELECT array_agg(((i % 3) - 1)::real) FROM generate_series(1, 1100) i")
fb=$(q -c "SELECT fallbacks FROM seqmodel.shared_cache_stats()")
check "a model larger than the area runs from a copy of the backend's own" \
    "$(q -c "SET seqmodel.shared_cache = off" -c "SELECT seqmodel.predict('huge', '$xh')")" \
    "$(q -c "SELECT seqmodel.predict('huge', '$xh')")"
check "... counted as a fallback, and cache_info says it is not shared" "true|false" \
    "$(q -c "SELECT seqmodel.predict('huge', '$xh') IS NOT NULL" -c "SELECT (s.fallbacks > $fb) || '|' || c.shared FROM seqmodel.shared_cache_stats() s, seqmodel.cache_info() c WHERE c.model = 'huge'" | tail -1)"

# 4. a session terminated while it pins a copy
a "BEGIN;"; a "SELECT seqmodel.forecast('co2', '$h', 3) IS NOT NULL;"; a '\echo A4'
a_wait A4
check "A pins the copy again" 1 "$(q -c "SELECT readers FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state = 'idle in transaction'" >/dev/null
exec 3>&-                     # A's psql reads its end of input and exits
wait "$a_pid" 2>/dev/null; a_pid=
sleep 0.2
check "its pin went with it" 0 "$(q -c "SELECT readers FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"

# 5. parallel workers read the same copy
q >/dev/null <<SQL
CREATE TABLE hist AS SELECT g AS id, ARRAY[330 + g % 7, 331, 332, 333, 334]::real[] AS h FROM generate_series(1, 20000) g;
ANALYZE hist;
SQL
par=$(q -c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" -c "SET min_parallel_table_scan_size = 0" \
        -c "SELECT round(sum((seqmodel.forecast('co2', h, 1))[1]::float8)::numeric, 2) FROM hist")
ser=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SET seqmodel.shared_cache = off" \
        -c "SELECT round(sum((seqmodel.forecast('co2', h, 1))[1]::float8)::numeric, 2) FROM hist")
plan=$(q -c "SET parallel_setup_cost = 0" -c "SET parallel_tuple_cost = 0" -c "SET min_parallel_table_scan_size = 0" \
        -c "EXPLAIN (COSTS OFF) SELECT round(sum((seqmodel.forecast('co2', h, 1))[1]::float8)::numeric, 2) FROM hist" | grep -c Gather)
check "the query runs in parallel" t "$([ "$plan" -ge 1 ] && echo t || echo f)"
check "parallel workers on the shared copy give a serial own copy's answer" "$ser" "$par"
check "one shared copy of the model, nothing pinned after" "1|0" \
    "$(q -c "SELECT count(*) || '|' || sum(readers) FROM seqmodel.shared_cache_info() WHERE model = 'co2'")"
check "the server log has no crash" 0 "$(grep -c -E 'terminated by signal|PANIC' "$dir/server.log")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
