#!/usr/bin/env bash
# The GPU paths of the glue (src/pg/device.c) from SQL, on machines without
# a GPU: seqmodel.device_module points at the fake device
# (test/device/seqmodel_fake_device.so: products on the host, a weight
# cache, a device memory, precision by rounding), so these run everywhere:
# answers under cuda, gpu_precision, device_info, gpu_release, the
# gpu_max_backends slots across sessions (auto goes to the CPU, cuda waits
# in wait event Extension, times out with 55P03, is cancellable, takes the
# slot once it is given back; a slot lost to pg_advisory_unlock_all is taken
# again), a failed open, failed products (cuda: 58000; auto: the CPU and a
# NOTICE), out of device memory (53200, saying what was asked and what is
# free), a missing module, and who may set device_module.  Run inside a
# cluster (test/regress.sh); prints one line per check and "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
db=sm_gpu_fake
. test/t/lib/check_cmd.sh    # passed, failed, check NAME COMMAND...
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }
# err_is WANT ARGS...: t when psql ARGS fails with "SQLSTATE message" starting with WANT
err_is() {
    local want=$1; shift
    local got; got=$(psql -X -q -At -d $db -v VERBOSITY=verbose "$@" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1 /p' | head -1)
    case "$got" in "$want"*) echo t ;; *) echo "got: $got" ;; esac
}
# is WANT COMMAND...: t when the command's output, lines joined by spaces, is WANT
is() {
    local want=$1; shift
    local got; got=$("$@" 2>&1 | tr '\n' ' ')
    [ "$got" = "$want" ] && echo t || echo "got: $got"
}

tmp=$(mktemp -d /tmp/seqmodel-gpu-fake.XXXXXX)
chmod 755 "$tmp"
ctl=$tmp/seqmodel_fake_device.ctl
a_pid=
cleanup() {
    exec 3>&- 2>/dev/null; kill "$a_pid" 2>/dev/null; wait 2>/dev/null
    psql -X -q -d postgres -c "LOAD 'seqmodel'" -c "ALTER SYSTEM RESET seqmodel.gpu_max_backends" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
    dropdb --if-exists $db >/dev/null 2>&1; rm -rf "$tmp"
}
trap cleanup EXIT

if ! make -s fake-device >"$tmp/make.log" 2>&1; then
    echo "not ok - the fake device module builds: $(tail -3 "$tmp/make.log")"; echo "0 passed, 1 failed"; exit 1
fi
# a copy the server's user can read
install -m 644 test/device/seqmodel_fake_device.so "$tmp/"
module=$tmp/seqmodel_fake_device.so

dropdb --if-exists $db >/dev/null 2>&1
createdb $db || { echo "0 passed, 1 failed"; exit 1; }
PG_ABS_SRCDIR=$root q -f sql/setup.sql >/dev/null || { echo "not ok - setup"; echo "0 passed, 1 failed"; exit 1; }
q <<SQL >/dev/null
ALTER DATABASE $db SET seqmodel.device_module = '$module';
SELECT seqmodel.import_safetensors('dev', 'linear', '{"in_features": 64, "out_features": 300}', ramp_linear(64, 300, 0.25));
SELECT seqmodel.import_safetensors('dev2', 'linear', '{"in_features": 64, "out_features": 300}', ramp_linear(64, 300, 0.5));
-- 256 rows: 4.9M multiply-adds, enough for auto to offload
CREATE TABLE dev_x AS
  SELECT array_agg(array(SELECT (1 + sin(r * 64 + i))::real FROM generate_series(1, 64) i) ORDER BY r) AS x
    FROM generate_series(1, 256) r;
SET seqmodel.device = 'cpu';
CREATE TABLE dev_ref AS SELECT seqmodel.predict('dev', x)::float8[] AS y FROM dev_x;
SQL
err_of() {  # err_of DEVICE: predict's normwise error against the CPU's, under that device
    q -c "SET seqmodel.device = '$1'" -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) FROM dev_x, dev_ref"
}

# 1. cuda on the fake device: the CPU's answers, the products and weights seen
check "cuda gives the CPU's answers (1e-5)" q -c "SET seqmodel.device = 'cuda'" \
    -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) < 1e-5 FROM dev_x, dev_ref"
check "device_info under cuda: context, slot 0, the model's weights" is "1 t " q -c "SET seqmodel.device = 'cuda'" \
    -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" -c "SELECT holds_context AND slot = 0 AND gpu LIKE 'fake device%'
        AND weights_bytes = 4 * 64 * 300 AND products > 0 AND fallbacks = 0 AND last_error IS NULL
        AND models = '[{\"model\": \"dev\", \"bytes\": 76800}]' AND gpu_total_bytes > gpu_free_bytes
        FROM seqmodel.device_info()"
check "compute_info names the device backend" q -c "SET seqmodel.device = 'cuda'" \
    -c "SELECT backend = 'fake' AND gpu LIKE 'fake device%' FROM seqmodel.compute_info()"
check "auto offloads a product of 4.9M multiply-adds" is "1 t " q -c "SET seqmodel.device = 'auto'" \
    -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" -c "SELECT products > 0 AND holds_context FROM seqmodel.device_info()"

# 2. precision: tf32 and bf16 round the operands
check "gpu_precision tf32: within 1e-3, not the same bits" q -c "SET seqmodel.device = 'cuda'" -c "SET seqmodel.gpu_precision = 'tf32'" \
    -c "SELECT e > 0 AND e < 1e-3 FROM (SELECT max_rel_err(seqmodel.predict('dev', x), y) e FROM dev_x, dev_ref) s"
check "gpu_precision bf16: within 1e-2, coarser than tf32" q -c "SET seqmodel.device = 'cuda'" \
    -c "SET seqmodel.gpu_precision = 'tf32'" -c "CREATE TEMP TABLE t32 AS SELECT max_rel_err(seqmodel.predict('dev', x), y) e FROM dev_x, dev_ref" \
    -c "SET seqmodel.gpu_precision = 'bf16'" \
    -c "SELECT e > (SELECT e FROM t32) AND e < 1e-2 FROM (SELECT max_rel_err(seqmodel.predict('dev', x), y) e FROM dev_x, dev_ref) s"
check "device_info shows the precision" q -c "SET seqmodel.gpu_precision = 'bf16'" -c "SELECT gpu_precision = 'bf16' FROM seqmodel.device_info()"
check "an unknown precision is refused (22023)" err_is "22023 invalid value for parameter \"seqmodel.gpu_precision\": \"fp8\"" \
    -c "LOAD 'seqmodel'" -c "SET seqmodel.gpu_precision = 'fp8'"

# 3. gpu_release: the weights, the context and the slot go; the next use opens again
check "gpu_release gives everything back, once" is "1 t t " q -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" \
    -c "SELECT seqmodel.gpu_release()" -c "SELECT seqmodel.gpu_release() = false"
check "after gpu_release: no context, no slot, no weights" is "1 t t " q -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" \
    -c "SELECT seqmodel.gpu_release()" -c "SET seqmodel.device = 'cpu'" \
    -c "SELECT NOT holds_context AND slot IS NULL AND weights_bytes = 0 AND models = '[]' FROM seqmodel.device_info()"
check "the GPU opens again after gpu_release, with the same answers" is "1 t t " q -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" \
    -c "SELECT seqmodel.gpu_release()" \
    -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) < 1e-5 FROM dev_x, dev_ref"
check "a dropped model leaves the GPU" is "1 t t " q -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev2', x)) FROM dev_x" \
    -c "SELECT seqmodel.drop_model('dev2')" -c "SELECT models = '[]' AND weights_bytes = 0 FROM seqmodel.device_info()"

# 4. slots: gpu_max_backends = 1, session A holds the GPU
q -c "LOAD 'seqmodel'" -c "ALTER SYSTEM SET seqmodel.gpu_max_backends = 1" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.3
. test/t/lib/session_a.sh    # a_start, a, a_wait
a_start sm_gpu_a $db
a "SET seqmodel.device = 'cuda';"; a "SELECT count(seqmodel.predict('dev', x)) FROM dev_x;"; a '\echo A1'
a_wait A1
check "A holds the one slot" q -c "SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.database = 0 AND l.objsubid = 3 AND l.granted AND a.application_name = 'sm_gpu_a'"
check "B under auto runs on the CPU, with the CPU's bits" q -c "SET seqmodel.device = 'auto'" \
    -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) = 0 FROM dev_x, dev_ref"
check "B's device_info says why" q -c "SET seqmodel.device = 'auto'" \
    -c "SELECT NOT holds_context AND gpu = 'none: All 1 GPU slots (seqmodel.gpu_max_backends) are held by other backends' FROM seqmodel.device_info()"
check "B under cuda times out after gpu_wait_timeout (55P03)" err_is "55P03 could not get the GPU within seqmodel.gpu_wait_timeout (200 ms)" \
    -c "SET seqmodel.device = 'cuda'" -c "SET seqmodel.gpu_wait_timeout = '200ms'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x"
b_waiting() {  # until session B waits in wait event Extension
    for _ in $(seq 1 600); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sm_gpu_b' AND wait_event_type = 'Extension'")" = 1 ] && return 0
        sleep 0.05
    done
    echo "session B never waited for the GPU"; return 1
}
b_waits_t() { b_waiting && echo t; }
PGAPPNAME=sm_gpu_b psql -X -q -At -d $db -c "SET seqmodel.device = 'cuda'" -c "SET seqmodel.gpu_wait_timeout = 0" \
    -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" > "$tmp/b_out" 2>&1 &
b_pid=$!
check "B under cuda waits in wait event Extension" b_waits_t
check "the wait is cancellable" q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'sm_gpu_b'"
wait $b_pid
check "B's wait ended with the cancel" is "ERROR:  canceling statement due to user request " cat "$tmp/b_out"
PGAPPNAME=sm_gpu_b psql -X -q -At -d $db -c "SET seqmodel.device = 'cuda'" -c "SET seqmodel.gpu_wait_timeout = 0" \
    -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x" -c "SELECT slot FROM seqmodel.device_info()" > "$tmp/b_out" 2>&1 &
b_pid=$!
b_waiting >/dev/null
a "SELECT seqmodel.gpu_release();"; a '\echo A2'
a_wait A2
wait $b_pid
check "B takes the slot A gave back" is "1 0 " cat "$tmp/b_out"
a_slots() { q -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.database = 0 AND l.objsubid = 3 AND l.granted AND a.application_name = 'sm_gpu_a'"; }
a "SELECT count(seqmodel.predict('dev', x)) FROM dev_x;"; a "SELECT holds_context, slot FROM seqmodel.device_info();"; a '\echo A3'
a_wait A3
check "A takes a slot again for its next use" is "A2 1 t|0 A3 " sed -n '/^A2$/,/^A3$/p' "$tmp/a_out"
a "SELECT pg_advisory_unlock_all();"; a '\echo A4'
a_wait A4
check "pg_advisory_unlock_all drops A's slot" is "0 " a_slots
a "SELECT count(seqmodel.predict('dev', x)) FROM dev_x;"; a '\echo A5'
a_wait A5
check "A's next GPU use takes it again" is "1 " a_slots
a '\q'; exec 3>&-; wait "$a_pid" 2>/dev/null; a_pid=
q -c "LOAD 'seqmodel'" -c "ALTER SYSTEM RESET seqmodel.gpu_max_backends" -c "SELECT pg_reload_conf()" >/dev/null

# 5. failures
echo fail_products > "$ctl"
check "a failed product under cuda is an ERROR (58000) with the device's message" \
    err_is "58000 a product on the GPU failed: fake failure of a 256 x 300 x 64 product" \
    -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x"
auto_fallback() {  # three calls in one statement: the CPU's bits each time, one NOTICE
    psql -X -q -At -d $db -c "SET seqmodel.device = 'auto'" \
        -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) = 0 FROM dev_x, dev_ref, generate_series(1, 3)" \
        >"$tmp/fb_out" 2>"$tmp/fb_err"
    [ "$(tr '\n' ' ' < "$tmp/fb_out")" = "t t t " ] &&
        [ "$(grep -c '^NOTICE:  a product on the GPU failed, so seqmodel computed it on the CPU: fake failure of a 256 x 300 x 64 product$' "$tmp/fb_err")" = 1 ] &&
        echo t || { cat "$tmp/fb_out" "$tmp/fb_err"; }
}
check "under auto a failed product falls back to the CPU: the CPU's bits, one NOTICE" auto_fallback
check "device_info counts the fallbacks and keeps the error" q -c "SET seqmodel.device = 'auto'" -c "SET client_min_messages = warning" \
    -c "SELECT fallbacks = 1 AND last_error = 'fake failure of a 256 x 300 x 64 product' FROM seqmodel.device_info() WHERE seqmodel.predict('dev', (SELECT x FROM dev_x)) IS NOT NULL"
echo "memory_kb 64" > "$ctl"
check "out of GPU memory under cuda: 53200, what was asked and what is free" \
    err_is "53200 a product on the GPU failed: allocating a weight of 0.1 MB on the fake device failed: out of memory (0.1 MB free of 0.1 MB)" \
    -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x"
echo fail_open > "$ctl"
check "an open that fails: cuda is 0A000" err_is "0A000 seqmodel.device is \"cuda\" but no CUDA device can be used" \
    -c "SET seqmodel.device = 'cuda'" -c "SELECT count(seqmodel.predict('dev', x)) FROM dev_x"
check "an open that fails: auto runs on the CPU and compute_info says why" is "t t " q -c "SET seqmodel.device = 'auto'" \
    -c "SELECT max_rel_err(seqmodel.predict('dev', x), y) = 0 FROM dev_x, dev_ref" \
    -c "SELECT backend = 'cpu' AND gpu = 'none: the fake device is switched off' FROM seqmodel.compute_info()"
rm -f "$ctl"
missing() {
    local out; out=$(psql -X -q -At -d $db -c "SET seqmodel.device_module = '$tmp/none.so'" -c "SET seqmodel.device = 'cuda'" \
        -c "SELECT seqmodel.predict('dev', x) FROM dev_x" 2>&1)
    grep -qxF "DETAIL:  The device module $tmp/none.so (seqmodel.device_module) does not exist." <<<"$out" && echo t || echo "$out"
}
check "a missing module: cuda says which file" missing
q -c "CREATE ROLE sm_gpu_user" >/dev/null 2>&1
check "only a superuser sets device_module (42501)" err_is "42501 permission denied to set parameter \"seqmodel.device_module\"" \
    -c "LOAD 'seqmodel'" -c "SET ROLE sm_gpu_user" -c "SET seqmodel.device_module = '/tmp/x.so'"
q -c "DROP ROLE sm_gpu_user" >/dev/null 2>&1

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
