#!/usr/bin/env bash
# The pg_regress suite, run by test/run-tests inside a throwaway cluster
# (pg_virtualenv): once with seqmodel.cpu_kernels at its default (auto),
# then again under every other CPU kernel set this machine runs (avx512,
# avx2, generic, blas) with seqmodel.device = cpu, so each variant passes
# the whole suite; then with every product through the fake device module
# (seqmodel.device = cuda).  The tests of the settings themselves (compute,
# cpu_unsupported, device) run in the first pass only.  Then the whole
# suite once more with the shared cache (seqmodel preloaded,
# seqmodel.shared_cache_size 256MB: the cluster restarted for it).  Then the scripts
# of test/t (pg_dump / restore; a streaming replica; state updates from
# two sessions), into $T_LOG.
# Exit status: non-zero if any pass failed.
set -uo pipefail
rc=0
make -s installcheck || rc=1
mv regression.diffs regression.diffs.auto 2>/dev/null

# what auto chose, and which sets this CPU accepts
auto=$(psql -X -Atq -d postgres -c "CREATE EXTENSION IF NOT EXISTS seqmodel" \
    -c "SELECT kernels FROM seqmodel.compute_info()" 2>/dev/null)
tests=$(sed -n 's/^REGRESS = //p' Makefile)
tests=$(echo " $tests " | sed 's/ compute / /; s/ cpu_unsupported / /; s/ device / /')
for k in avx512 avx2 generic blas; do
    [ "$k" = "$auto" ] && continue
    # an unsupported set given before the library loads is refused with a
    # WARNING and the default kept: so ask what runs
    got=$(PGOPTIONS="-c seqmodel.cpu_kernels=$k" psql -X -Atq -d postgres \
            -c "SELECT kernels FROM seqmodel.compute_info()" 2>/dev/null)
    if [ "$got" != "$k" ]; then
        echo "== kernels $k: not supported by this CPU, skipped"
        continue
    fi
    echo "== regression tests with seqmodel.cpu_kernels = $k"
    # shellcheck disable=SC2086  # one argument per test
    # (on the CPU only: these passes test the CPU kernels, also on a GPU machine)
    PGOPTIONS="-c seqmodel.cpu_kernels=$k -c seqmodel.device=cpu" make -s installcheck REGRESS="$tests" \
        EXTRA_REGRESS_OPTS="--outputdir=results-$k" || rc=1
done
# the suite with every product sent to a device: the fake device module
# (test/device/: products on the host), seqmodel.device = cuda, so each SQL
# function's products cross the device interface and its answers still meet
# the expected files (the settings' own tests and demo_translate, whose
# Marian model takes minutes on the fake's naive products, left out)
echo "== regression tests with seqmodel.device = cuda on the fake device module"
fake_dir=$(mktemp -d /tmp/seqmodel-fake-device.XXXXXX)
chmod 755 "$fake_dir"
if make -s fake-device && install -m 644 test/device/seqmodel_fake_device.so "$fake_dir/"; then
    fake_tests=$(echo " $tests " | sed 's/ demo_translate / /')
    # shellcheck disable=SC2086  # one argument per test
    PGOPTIONS="-c seqmodel.device=cuda -c seqmodel.device_module=$fake_dir/seqmodel_fake_device.so" \
        make -s installcheck REGRESS="$fake_tests" EXTRA_REGRESS_OPTS="--outputdir=results-fake-device" || rc=1
    # and the sessions did run on it
    got=$(PGOPTIONS="-c seqmodel.device=cuda -c seqmodel.device_module=$fake_dir/seqmodel_fake_device.so" \
            psql -X -Atq -d contrib_regression -c "SELECT backend FROM seqmodel.compute_info()" 2>&1)
    [ "$got" = fake ] || { echo "the fake device pass ran on \"$got\", not on the fake device"; rc=1; }
else
    echo "the fake device module did not build"; rc=1
fi
rm -rf "$fake_dir"
# the whole suite again with one copy of the weights per cluster: seqmodel
# preloaded and seqmodel.shared_cache_size set (a restart), kernels auto
echo "== regression tests with the shared cache (shared_preload_libraries = seqmodel)"
psql -X -q -d postgres -c "DROP EXTENSION IF EXISTS seqmodel" 2>/dev/null
# (two restarts: ALTER SYSTEM takes the size only once the library is preloaded)
psql -X -q -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'seqmodel'" || rc=1
if pg_ctlcluster "${PGVERSION:-15}" regress restart &&
   psql -X -q -d postgres -c "ALTER SYSTEM SET seqmodel.shared_cache_size = '256MB'" &&
   pg_ctlcluster "${PGVERSION:-15}" regress restart; then
    make -s installcheck EXTRA_REGRESS_OPTS="--outputdir=results-shared" || rc=1
else
    echo "restart with the shared cache failed"; rc=1
fi
psql -X -q -d postgres -c "DROP EXTENSION IF EXISTS seqmodel" 2>/dev/null
psql -X -q -d postgres -c "ALTER SYSTEM RESET shared_preload_libraries" -c "ALTER SYSTEM RESET seqmodel.shared_cache_size" || rc=1
pg_ctlcluster "${PGVERSION:-15}" regress restart || rc=1
# test/t: each script prints "ok" / "not ok" lines and its own "N passed,
# N failed"; the log ends with their sum (what test/run-tests reads)
t_log=${T_LOG:-/tmp/seqmodel-t.log}
: > "$t_log"
t_pass=0; t_fail=0
for t in test/t/*.sh; do
    echo "== $t" >> "$t_log"
    out=$(bash "$t" 2>&1); t_rc=$?
    echo "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' >> "$t_log"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -n "$line" ]; then
        t_pass=$((t_pass + $(echo "$line" | cut -d' ' -f1))); t_fail=$((t_fail + $(echo "$line" | cut -d' ' -f3)))
    else t_fail=$((t_fail + 1)); echo "not ok - $t printed no summary" >> "$t_log"; fi
    [ "$t_rc" -eq 0 ] || [ -z "$line" ] || [ "$(echo "$line" | cut -d' ' -f3)" -gt 0 ] || t_fail=$((t_fail + 1))
done
echo "$t_pass passed, $t_fail failed" >> "$t_log"
exit $rc
