#!/usr/bin/env bash
# The pg_regress suite, run by test/run-tests inside a throwaway cluster
# (pg_virtualenv): once with seqmodel.cpu_kernels at its default (auto),
# then again under every other CPU kernel set this machine runs (avx512,
# avx2, generic, blas) with seqmodel.device = cpu, so each variant passes
# the whole suite.  The tests of the settings themselves (compute,
# cpu_unsupported, device) run in the first pass only.  Then the pg_dump /
# restore checks (test/t, into $T_LOG).
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
psql -X -q -d postgres -c "DROP EXTENSION IF EXISTS seqmodel" 2>/dev/null
bash test/t/dump_restore.sh > "${T_LOG:-/tmp/seqmodel-t.log}" 2>&1
exit $rc
