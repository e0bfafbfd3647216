#!/usr/bin/env bash
# Memory of many backends running one large model: the shared cache (one
# copy per cluster) against a copy per backend (seqmodel.shared_cache =
# off), and the first call of a new connection each way.  Run from the
# repository root with the extension installed (make install), as root or
# postgres:
#
#   bash test/bench/shared_cache.sh [BACKENDS] [N]   # defaults: 32 backends, N = 5000
#
# It starts a cluster of its own (initdb in a temp directory, a Unix
# socket, port SHARED_BENCH_PORT or 55471) with seqmodel preloaded and
# seqmodel.shared_cache_size 1GB, imports a linear model of N x N float32
# weights (N = 5000: 100 MB; with the packed copy the kernels use a loaded
# model holds about 200 MB), then for each mode opens BACKENDS connections
# that each run one predict and stay connected, and sums over those
# backends /proc/<pid>/smaps_rollup's Pss and Rss (the postmaster's shared
# memory counts once in Pss, split between the processes that touched it).
# Then, for each mode, the first predict of 5 new connections, timed
# server-side (median).
set -uo pipefail
cd "$(dirname "$0")/../.."
backends=${1:-32}
n=${2:-5000}
bin=$(pg_config --bindir)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
dir=$(mktemp -d /tmp/seqmodel-shared-bench.XXXXXX)
chmod 755 "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
port=${SHARED_BENCH_PORT:-55471}
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
q() { as_pg "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -d postgres "$@"; }
grep -m1 "model name" /proc/cpuinfo
as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null || exit 1
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = $((backends + 20))
shared_preload_libraries = 'seqmodel'
seqmodel.shared_cache_size = '1GB'
seqmodel.cache_size = '1GB'
EOF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null || { tail "$dir/server.log"; exit 1; }
python3 - "$dir/big.safetensors" "$n" <<'PY' || exit 1
import json, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
h = json.dumps({"weight": {"dtype": "F32", "shape": [n, n], "data_offsets": [0, 4 * n * n]}}).encode()
row = struct.pack("<7f", *[0.001 * (i - 3) for i in range(7)])
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.write((row * (n * n // 7 + 1))[:4 * n * n])
PY
chmod 644 "$dir/big.safetensors"
q >/dev/null <<SQL || exit 1
CREATE EXTENSION seqmodel;
SELECT seqmodel.import_safetensors_file('big', 'linear', '{"in_features": $n, "out_features": $n, "bias": false}', '$dir/big.safetensors');
CREATE FUNCTION ms(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE q; RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
SQL
x="(SELECT array_agg((i % 5 - 2)::real) FROM generate_series(1, $n) i)"
echo "model: linear $n x $n, $(( 4 * n * n / 1048576 )) MB of float32 weights; $backends backends"
printf '%-12s %14s %14s %16s %16s\n' mode "total Pss MB" "total Rss MB" "Pss/backend MB" "first call ms"
for mode in shared own; do
    opt=""; [ "$mode" = own ] && opt="-c seqmodel.shared_cache=off"
    pids=()
    for i in $(seq 1 "$backends"); do
        PGOPTIONS="$opt" PGAPPNAME="bench_$mode" as_pg "$bin/psql" -X -q -At -h "$dir" -p "$port" -d postgres \
            -c "SELECT (seqmodel.predict('big', $x))[1] IS NOT NULL" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
        pids+=($!)
    done
    # until every backend ran its predict and sleeps
    for _ in $(seq 1 1200); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench_$mode' AND wait_event = 'PgSleep'")" = "$backends" ] && break
        sleep 0.25
    done
    bpids=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_$mode'")
    pss=0; rss=0
    for p in $bpids; do
        v=$(awk '/^Pss:/ {p = $2} /^Rss:/ {r = $2} END {print p, r}' "/proc/$p/smaps_rollup" 2>/dev/null)
        pss=$((pss + ${v% *})); rss=$((rss + ${v#* }))
    done
    first=()
    for r in 1 2 3 4 5; do
        first+=("$(PGOPTIONS="$opt" q -c "SELECT round(ms('SELECT seqmodel.predict(''big'', $x)')::numeric, 1)")")
    done
    med=$(printf '%s\n' "${first[@]}" | sort -g | sed -n 3p)
    nb=$(echo "$bpids" | wc -w)
    printf '%-12s %14d %14d %16.1f %16s\n' "$mode" $((pss / 1024)) $((rss / 1024)) "$(awk -v a=$pss -v b="$nb" 'BEGIN { print a / 1024 / b }')" "$med"
    q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench_$mode'" >/dev/null
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
done
q -c "SELECT 'shared cache: ' || used_bytes / 1048576 || ' MB used of ' || size_bytes / 1048576 || ', builds ' || builds || ', fallbacks ' || fallbacks FROM seqmodel.shared_cache_stats()"
echo "first call: a new connection's first predict (server-side, median of 5), the model already loaded in the shared cache / loaded by that backend"
