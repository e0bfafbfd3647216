#!/usr/bin/env bash
# Everything the GPU machine should do, as one command (test/gpu/README.md):
#
#   bash test/gpu/run.sh          # from the repository root, on the GPU machine
#
# after `bash ../shared/gpu/prepare.sh` on the ordinary machine (it writes .gpu/, which the
# device tool must carry).  Steps, each time-boxed, each logged with timestamps; a failed step
# does not stop the others:
#   info          nvidia-smi, nvcc --version, the CPU, the tree
#   pgup          source .gpu/pg-up.sh: a throwaway PostgreSQL 15 cluster (PATH, PGHOST, ...)
#   build         make with_llvm=no USE_CUDA=1 -j16 && make with_llvm=no USE_CUDA=1 install
#   cuda_test     make USE_CUDA=1 cuda-test (the CUDA module against a double reference)
#   memcheck      compute-sanitizer --tool memcheck test/cuda/run-cuda-test (when it exists)
#   regress_auto  make with_llvm=no installcheck (seqmodel.device = auto, the default)
#   regress_cuda  the same with PGOPTIONS="-c seqmodel.device=cuda", into results-cuda (all
#                 tests but compute, cpu_unsupported and device, which test the settings'
#                 defaults, as test/regress.sh leaves them out of its forced passes)
#   bench         bash test/bench/gpu.sh (seqmodel on the GPU against PyTorch; SQL cpu vs cuda)
#   then the logs, and a summary table of step / status / rc / seconds.
# Output under $OUT (default ./gpu-out), at most 8 files as the device tool brings back:
#   run.log  everything, with timestamps     summary.txt   the table
#   bench.txt  the benchmark's output        regression-auto.diffs, regression-cuda.diffs
#   logs.tar.gz  every step's log, pg.log, regression.out files, the benchmark's raw figures
# Exit status: 1 if a step failed; 3 if none failed but some were not run (GPU_STEPS); else 0.
#
# Environment: GPU_BUDGET (seconds for the whole run, default 540: later steps keep a
# minimum share, see reserve below), GPU_STEPS (a subset of the step names, to rerun a part on
# a warm machine; the others are reported as not run), GPU_REGRESS (the pg_regress tests of
# both passes, default the Makefile's REGRESS), JOBS (make -j, default 16).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root=$(pwd)
OUT=${OUT:-$root/gpu-out}
mkdir -p "$OUT" || exit 1
log=$OUT/run.log
: > "$log"
raw=$(mktemp -d /tmp/seqmodel-gpu-logs.XXXXXX)     # step logs, packed into logs.tar.gz
budget=${GPU_BUDGET:-540}
steps_all="info pgup build cuda_test memcheck regress_auto regress_cuda bench"
steps=${GPU_STEPS:-$steps_all}
jobs=${JOBS:-16}
t_start=$SECONDS

ts() { date -u '+%Y-%m-%d %H:%M:%S'; }
say() { echo "[$(ts)] $*" | tee -a "$log"; }

# the shortest time each later step keeps: a step may not run into it
declare -A cap=([info]=30 [build]=200 [cuda_test]=60 [memcheck]=90 [regress_auto]=180 [regress_cuda]=180 [bench]=260)
declare -A floor=([build]=60 [cuda_test]=15 [memcheck]=15 [regress_auto]=60 [regress_cuda]=60 [bench]=150)
tail_reserve=20          # the logs and the summary
reserve() {              # the floors of the steps after $1 that will run
    local s after=0 r=$tail_reserve
    for s in $steps_all; do
        [ $after = 1 ] && selected "$s" && r=$((r + ${floor[$s]:-0}))
        [ "$s" = "$1" ] && after=1
    done
    echo $r
}
selected() { [[ " $steps " == *" $1 "* ]]; }

names=(); rcs=(); secs=(); stats=(); notes=()
record() { names+=("$1"); stats+=("$2"); rcs+=("$3"); secs+=("$4"); notes+=("${5:-}"); }

# run_step NAME COMMAND...: COMMAND (a program, run by timeout) with its output into run.log,
# stdout and $raw/NAME.log; the time it may take: min(its cap, what is left less the floors
# of the steps after it)
run_step() {
    local name=$1 to left s rc
    shift
    left=$((budget - (SECONDS - t_start) - $(reserve "$name")))
    to=${cap[$name]:-120}; [ "$left" -lt "$to" ] && to=$left
    if [ "$to" -lt 10 ]; then
        say "-- $name: not run: only ${left} s left of GPU_BUDGET=$budget"
        record "$name" FAIL 124 0 "not run: no time left"; return
    fi
    say "-- $name (at most $to s): $*"
    s=$SECONDS
    timeout --kill-after=10 "$to" "$@" 2>&1 | tee "$raw/$name.log" | tee -a "$log"
    rc=${PIPESTATUS[0]}
    local note=
    [ "$rc" = 124 ] || [ "$rc" = 137 ] && note="stopped at its limit of $to s"
    say "-- $name: exit $rc after $((SECONDS - s)) s${note:+ ($note)}"
    record "$name" "$([ "$rc" = 0 ] && echo ok || echo FAIL)" "$rc" "$((SECONDS - s))" "$note"
}
skip_step() { say "-- $1: not run ($2)"; record "$1" "${3:-skip}" "-" 0 "$2"; }

say "seqmodel on the GPU machine: $root, OUT=$OUT, budget $budget s, steps: $steps"

# ---------------------------------------------------------------- 1. the machine
if selected info; then
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    run_step info bash -c "nvidia-smi; rc=\$?; echo; '$nvcc' --version || rc=1; echo
        lscpu | grep -E '^(Model name|CPU\\(s\\)|Thread|Core|Socket|Flags)' | cut -c1-300; free -g | head -2
        echo; echo tree: \$(git rev-parse --short HEAD 2>/dev/null || echo 'no .git') \$(git status --short 2>/dev/null | wc -l) changed files
        for f in .gpu/pg-up.sh .gpu/pgbundle.tar.xz .gpu/peers/models.py; do [ -f \$f ] || echo \"warning: \$f is missing (test/gpu/README.md: Before)\"; done
        exit \$rc"
else skip_step info "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 2. PostgreSQL (in this shell: it exports)
if selected pgup; then
    say "-- pgup: source .gpu/pg-up.sh"
    s=$SECONDS
    if [ -f .gpu/pg-up.sh ] && [ -f .gpu/pgbundle.tar.xz ]; then
        # shellcheck disable=SC1091
        source .gpu/pg-up.sh > "$raw/pgup.log" 2>&1; rc=$?
        [ $rc = 0 ] && ! psql -X -Atq -d postgres -c 'SELECT 1' >> "$raw/pgup.log" 2>&1 && rc=1
        # the server (user pgrun) reads the tests' fixtures from this tree
        if [ $rc = 0 ] && id pgrun >/dev/null 2>&1 && ! su pgrun -s /bin/sh -c "test -r '$root/test/fixtures/linear.safetensors'"; then
            echo "warning: the server's user pgrun cannot read $root/test/fixtures: tests that read fixtures will fail" >> "$raw/pgup.log"
        fi
    else
        echo "no .gpu/pg-up.sh and .gpu/pgbundle.tar.xz: run 'bash ../shared/gpu/prepare.sh' on the ordinary machine and carry .gpu" > "$raw/pgup.log"
        rc=1
    fi
    tee -a "$log" < "$raw/pgup.log"
    say "-- pgup: exit $rc after $((SECONDS - s)) s (PATH=$PATH PGHOST=${PGHOST:-} PGPORT=${PGPORT:-})"
    record pgup "$([ $rc = 0 ] && echo ok || echo FAIL)" $rc $((SECONDS - s))
else skip_step pgup "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 3. build and install
if selected build; then
    run_step build bash -c "make with_llvm=no USE_CUDA=1 -j$jobs && make with_llvm=no USE_CUDA=1 install"
else skip_step build "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 4. the CUDA module's own test
if selected cuda_test; then
    run_step cuda_test make USE_CUDA=1 cuda-test
else skip_step cuda_test "not in GPU_STEPS" "not run"; fi
if selected memcheck; then
    san=$(command -v compute-sanitizer || true)
    [ -z "$san" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && san=/usr/local/cuda/bin/compute-sanitizer
    if [ -z "$san" ]; then
        skip_step memcheck "compute-sanitizer not found"
    else
        # a memory error fails the step (--error-exitcode), not only a failing test
        run_step memcheck bash -c "make -s USE_CUDA=1 test/cuda/run-cuda-test && '$san' --tool memcheck --error-exitcode 99 test/cuda/run-cuda-test"
        # a runtime where the sanitizer cannot attach (gVisor): said so, not counted as a failure
        if [ "${stats[-1]}" = FAIL ] && grep -qiE 'device not supported|not supported on this (platform|device)' "$raw/memcheck.log"; then
            stats[-1]=skip; notes[-1]="compute-sanitizer does not support this device/runtime (see the log)"
            say "-- memcheck: compute-sanitizer cannot run on this machine's runtime: reported as skip"
        fi
    fi
else skip_step memcheck "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 5. pg_regress, twice
tests=${GPU_REGRESS:-$(sed -n 's/^REGRESS = //p' Makefile)}
if selected regress_auto; then
    rm -f regression.diffs regression.out
    run_step regress_auto env -u PGOPTIONS make with_llvm=no installcheck REGRESS="$tests"
    [ -f regression.diffs ] && cp regression.diffs "$OUT/regression-auto.diffs"
    [ -f regression.out ] && cp regression.out "$raw/regression-auto.out"
else skip_step regress_auto "not in GPU_STEPS" "not run"; fi
if selected regress_cuda; then
    cuda_tests=$(echo " $tests " | sed 's/ compute / /; s/ cpu_unsupported / /; s/ device / /')
    rm -rf results-cuda
    run_step regress_cuda env PGOPTIONS="-c seqmodel.device=cuda" make with_llvm=no installcheck \
        REGRESS="$(echo $cuda_tests)" EXTRA_REGRESS_OPTS="--outputdir=results-cuda"
    [ -f results-cuda/regression.diffs ] && cp results-cuda/regression.diffs "$OUT/regression-cuda.diffs"
    [ -f results-cuda/regression.out ] && cp results-cuda/regression.out "$raw/regression-cuda.out"
else skip_step regress_cuda "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 6. the benchmark
if selected bench; then
    left=$((budget - (SECONDS - t_start) - tail_reserve)); bto=${cap[bench]}; [ $left -lt $bto ] && bto=$left
    # the benchmark's own budget a little under the step's limit, so its report still prints
    run_step bench env BENCH_BUDGET=$((bto > 60 ? bto - 25 : 35)) BENCH_DIR=/tmp/seqmodel-bench-gpu bash test/bench/gpu.sh
    cp "$raw/bench.log" "$OUT/bench.txt" 2>/dev/null
else skip_step bench "not in GPU_STEPS" "not run"; fi

# ---------------------------------------------------------------- 7. the logs
say "-- logs into $OUT/logs.tar.gz"
{
    command -v nvidia-smi >/dev/null && nvidia-smi > "$raw/nvidia-smi-end.txt" 2>&1
    for f in /tmp/pg.log /tmp/initdb.log; do [ -f "$f" ] && tail -c 8000000 "$f" > "$raw/$(basename "$f")"; done
    b=/tmp/seqmodel-bench-gpu
    if [ -d $b ]; then
        mkdir -p "$raw/bench"
        for f in $b/*.txt $b/*.jsonl $b/*.log $b/*.json $b/sql.stderr; do [ -f "$f" ] && cp "$f" "$raw/bench/"; done
        [ -d $b/conc ] && cp -r $b/conc "$raw/bench/" 2>/dev/null
    fi
    for d in results results-cuda; do
        [ -d "$d" ] && tar -czf "$raw/$d.tar.gz" "$d" 2>/dev/null
    done
    tar -czf "$OUT/logs.tar.gz" -C "$raw" . 2>&1
} >> "$log" 2>&1

# ---------------------------------------------------------------- summary
# (counted here, in this shell: a pipeline's right side would count in a subshell)
failed=0; notrun=0
for i in "${!names[@]}"; do
    [ "${stats[$i]}" = FAIL ] && failed=$((failed + 1))
    [ "${stats[$i]}" = "not run" ] && notrun=$((notrun + 1))
done
{
    echo
    echo "summary ($(ts), $((SECONDS - t_start)) s of $budget):"
    printf '| %-13s | %-7s | %4s | %7s | %s\n' step status rc seconds note
    printf '|---------------|---------|------|---------|------\n'
    for i in "${!names[@]}"; do
        printf '| %-13s | %-7s | %4s | %7s | %s\n' "${names[$i]}" "${stats[$i]}" "${rcs[$i]}" "${secs[$i]}" "${notes[$i]}"
    done
    if [ $failed -gt 0 ]; then echo "RESULT: $failed step(s) failed"
    elif [ $notrun -gt 0 ]; then echo "RESULT: no step failed, but $notrun step(s) were not run (GPU_STEPS): not a full pass"
    else echo "RESULT: every step passed (or was skipped for the reason shown)"; fi
} > "$OUT/summary.txt"
tee -a "$log" < "$OUT/summary.txt"
# the benchmark's table once more, at the end of the output
if [ -f /tmp/seqmodel-bench-gpu/report.txt ] && selected bench; then
    echo; echo "benchmark table (also in $OUT/bench.txt):"; cat /tmp/seqmodel-bench-gpu/report.txt
fi
rm -rf "$raw"
[ $failed -gt 0 ] && exit 1
[ $notrun -gt 0 ] && exit 3
exit 0
