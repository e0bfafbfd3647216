# What the peer benchmarks' scripts share; definitions only, so that both
# sides can source it:
#   - the drivers rnn.sh and tfm.sh (run from the repository root), which set
#     bench=rnn|tfm (bench_$bench.c, ${bench}_sql.sh, report.py $bench) and
#     default_workloads, then call bench_init "$@" and the steps in order;
#   - their SQL sides rnn_sql.sh and tfm_sql.sh (run by pg_virtualenv), which
#     call sql_init "$@" and use the helpers below it.
# shellcheck shell=bash

# ================================================================ drivers

say() { echo "== $*"; }
die() { echo "$bench.sh: $*" >&2; exit 1; }

# bench_init [ROUNDS]: the knobs (see the drivers' headers), the work folder, the log
bench_init() {
    root=$(pwd)
    rounds=${1:-3}
    [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash test/bench/$bench.sh [ROUNDS]" >&2; exit 2; }

    export PEER_MODEL_DIR=${PEER_MODEL_DIR:-/tmp/peer-models}
    if [ -z "${PEERS_SRC:-}" ]; then
        PEERS_SRC=$root/../shared/peers
        [ -f "$PEERS_SRC/models.py" ] || PEERS_SRC=/work/shared/peers
    fi
    ORT_DIR=${ORT_DIR:-/tmp/ort}
    work=${BENCH_DIR:-/tmp/seqmodel-bench-$bench}
    THREADS_LIST=${THREADS_LIST:-"1 2"}
    WORKLOADS=${WORKLOADS:-$default_workloads}
    PY=/usr/bin/python3      # Debian's python (torch, numpy, onnx), not a pyenv one on PATH
    peers=$work/peers        # copies of the peers' scripts, with ort -> $ORT_DIR beside them
    results=$work/results.jsonl
    log=$work/log
    sql_args=()              # --sql FILE for the report, once the SQL section has run
    mkdir -p "$work" "$peers"
    : > "$log"

    [ -f "$PEERS_SRC/models.py" ] || die "the peers' scripts are not in $PEERS_SRC (set PEERS_SRC)"
}

# the packages (unless DEPS=0), then the peers' scripts copied into $peers
bench_deps() {
    if [ "${DEPS:-1}" = 1 ]; then
        say "dependencies"
        bash test/deps || die "test/deps failed"       # compiler, OpenBLAS, PostgreSQL (PGXS)
        local missing=() p
        for p in python3-torch python3-numpy python3-onnx; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
        done
        # nodejs may come from elsewhere (NodeSource bundles npm): only what is absent
        command -v node >/dev/null || missing+=(nodejs)
        command -v npm >/dev/null || missing+=(npm)
        if [ ${#missing[@]} -gt 0 ]; then
            echo "installing ${missing[*]}"
            export DEBIAN_FRONTEND=noninteractive
            apt-get -o DPkg::Lock::Timeout=600 update -qq >>"$log" 2>&1
            apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >>"$log" 2>&1 \
                || die "apt-get install ${missing[*]} failed (see $log)"
        fi
        if [ ! -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]; then
            echo "npm install onnxruntime-node into $ORT_DIR"
            mkdir -p "$ORT_DIR" && cp "$PEERS_SRC/package.json" "$ORT_DIR/"
            (cd "$ORT_DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund >>"$log" 2>&1) \
                || die "npm install failed (see $log)"
        fi
    fi
    "$PY" -c 'import torch, numpy, onnx' 2>/dev/null || die "$PY cannot import torch, numpy and onnx"

    # peers_ort.js loads ./ort/node_modules/onnxruntime-node relative to itself
    local f
    for f in models.py st.py peers_torch.py peers_ort.js package.json; do cp "$PEERS_SRC/$f" "$peers/"; done
    ln -sfn "$ORT_DIR" "$peers/ort"
}

# bench_models MODEL...: the peer models, generated unless workloads.json and each MODEL.onnx are there
bench_models() {
    local m absent=0
    [ -f "$PEER_MODEL_DIR/workloads.json" ] || absent=1
    for m in "$@"; do [ -f "$PEER_MODEL_DIR/$m.onnx" ] || absent=1; done
    if [ $absent = 1 ]; then
        say "generating the peer models into $PEER_MODEL_DIR"
        (cd "$peers" && "$PY" -B models.py 2>>"$log") || die "models.py failed (see $log)"
    fi
    chmod a+rx "$PEER_MODEL_DIR" && chmod a+r "$PEER_MODEL_DIR"/*    # the SQL path's server reads them
}

# $work/bench_$bench from its one .c file; engine=0 if it does not build (the peers still run)
bench_build() {
    say "building bench_$bench"
    engine=1
    if ! make -s -C "$root" src/engine/libsmengine.a >>"$log" 2>&1; then
        echo "building src/engine/libsmengine.a failed (tail of $log):"; tail -5 "$log"; engine=0
    elif ! cc -std=gnu11 -O2 -Wall -Wextra -Isrc/engine -o "$work/bench_$bench" "test/bench/bench_$bench.c" \
            src/engine/libsmengine.a -lopenblas -lm >>"$log" 2>&1; then
        echo "building bench_$bench failed (tail of $log):"; tail -5 "$log"; engine=0
    fi
    [ $engine = 1 ] || echo "!! the seqmodel engine column will be empty; the peers still run"
    # the machine, as every report must say: CPU, features, kernels, OpenBLAS's core
    if cc -std=gnu11 -O2 -Isrc/engine -o "$work/bench_info" test/bench/bench_info.c \
            src/engine/libsmengine.a -lopenblas -lm >>"$log" 2>&1; then
        "$work/bench_info" | tee "$work/machine.txt"
        [ -n "${OPENBLAS_CORETYPE:-}" ] && echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" | tee -a "$work/machine.txt"
    fi
}

# one run: IMPL THREADS WORKLOAD ROUND -> a JSON line tagged with the round, appended to results
run_one() {
    local impl=$1 n=$2 wl=$3 r=$4 line rc
    case $impl in
        seqmodel) [ $engine = 1 ] || return 0
                  line=$(cd "$peers" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$work/bench_$bench" "$n" "$wl" 2>>"$log") ;;
        pytorch)  line=$(cd "$peers" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$PY" -B peers_torch.py "$n" "$wl" 2>>"$log") ;;
        ort)      line=$(cd "$peers" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n node peers_ort.js "$n" "$wl" 2>>"$log") ;;
    esac
    rc=$?
    line=$(echo "$line" | grep '^{' | tail -1)
    if [ -z "$line" ]; then
        printf '   %-9s failed (exit %d; see %s)\n' "$impl" "$rc" "$log"; return 0
    fi
    [ $rc = 0 ] || printf '   %-9s exit %d (accuracy check?)\n' "$impl" "$rc"
    echo "$line" | sed "s/^{/{\"round\": $r, /" >> "$results"
    echo "$line" | "$PY" -c 'import json,sys; r=json.load(sys.stdin); e=r["max_abs_err"]/r["max_abs_ref"]
print("   %-9s median %9.3f ms  min %9.3f ms  %6.1f GFLOP/s  rel err %.1e" % (sys.argv[1], r["median_ms"], r["min_ms"], r["gflops"], e))' "$impl"
}

# every (round, threads, workload), the implementations alternating
bench_timing() {
    local impls=(seqmodel pytorch ort) r n wl k
    : > "$results"
    say "timing: $rounds rounds x threads {$THREADS_LIST} x {$WORKLOADS}, implementations alternating"
    for r in $(seq "$rounds"); do
        for n in $THREADS_LIST; do
            for wl in $WORKLOADS; do
                echo "-- round $r/$rounds, threads $n, $wl"
                for k in 0 1 2; do                       # rotate the order each round
                    run_one "${impls[$(( (k + r - 1) % 3 ))]}" "$n" "$wl" "$r"
                done
            done
        done
    done
}

# whether the SQL section runs (SQL=1, pg_virtualenv and the installed extension),
# after `make install` if SQL_INSTALL=1; says why not
sql_wanted() {
    [ "${SQL:-1}" = 1 ] || return 1
    say "SQL path"
    if [ "${SQL_INSTALL:-0}" = 1 ]; then
        make -s -C "$root" -j2 >>"$log" 2>&1 && make -s -C "$root" install >>"$log" 2>&1 \
            || echo "make install failed (see $log)"
    fi
    if ! command -v pg_virtualenv >/dev/null; then
        echo "  skipped: pg_virtualenv is not installed (postgresql-common)"; return 1
    elif [ ! -f "$(pg_config --sharedir)/extension/seqmodel.control" ]; then
        echo "  skipped: the extension is not installed (make install)"; return 1
    fi
}

# sql_run [VAR=VALUE...]: ${bench}_sql.sh in a throwaway cluster, with the CSV files
# the driver wrote into $work and the VARs in its environment; sql_args for the report
sql_run() {
    chmod a+rx "$work" && chmod a+r "$work"/*.csv
    # the SQL path runs the installed library: say so if it is not this tree's engine
    local installed
    installed=$(pg_config --pkglibdir)/seqmodel.so
    if [ ! -f "$root/seqmodel.so" ] || ! cmp -s "$installed" "$root/seqmodel.so"; then
        echo "  warning: the installed seqmodel.so is not this tree's build (make && make install, or SQL_INSTALL=1)"
    elif [ -n "$(find "$root/src/engine" -name '*.o' -newer "$root/seqmodel.so")" ]; then
        echo "  warning: this tree's seqmodel.so is older than its engine objects (make && make install, or SQL_INSTALL=1)"
    fi
    # BENCH_RNN / BENCH_TFM: the engine reference the SQL side times alongside
    [ $engine = 1 ] && export "BENCH_${bench^^}=$work/bench_$bench"
    # -t: a private cluster directory, so a 15/regress of a concurrent test run is untouched
    # shellcheck disable=SC2086  # THREADS_LIST: one argument per thread count
    env "$@" pg_virtualenv -t bash "$root/test/bench/${bench}_sql.sh" "$work" $THREADS_LIST 2>>"$log" \
        || echo "  the SQL section failed (see $log and $work/sql.log)"
    [ -f "$work/sql.txt" ] && sql_args=(--sql "$work/sql.txt")
}

bench_report() {
    echo
    say "results ($results)"
    [ -f "$work/machine.txt" ] && cat "$work/machine.txt"
    "$PY" -B test/bench/report.py "$bench" "$results" "${sql_args[@]}"
}

# ================================================================ SQL sides

# sql_init WORKDIR THREADS...: $out (sql.txt) and $log (sql.log) emptied, the
# extension created (or a note and exit 0: the SQL section is skipped, not failed)
sql_init() {
    work=$1
    shift
    threads_list=$*
    out=$work/sql.txt
    log=$work/sql.log
    : > "$out"
    : > "$log"
    if ! q -c 'CREATE EXTENSION seqmodel'; then
        note "CREATE EXTENSION seqmodel failed (see $log): SQL section skipped"; exit 0
    fi
}

note() { echo "note $*" >> "$out"; echo "  $*"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@" 2>>"$log"; }
# whether the installed extension has the function seqmodel.NAME
have() { [ "$(q -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'seqmodel'::regnamespace AND proname = '$1'")" -gt 0 ] 2>/dev/null; }

# bench_ms(q): the server-side ms of one EXECUTE, for the timed statements
bench_ms_sql='CREATE FUNCTION bench_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN 1000 * extract(epoch FROM clock_timestamp() - t0);
END $$;'

# seqmodel.threads: defined once the library is loaded (any C function loads it)
sql_threads_guc() {
    local threads_guc
    threads_guc=$(q -c "SELECT count(*) FROM seqmodel.cache_info(); SELECT count(*) FROM pg_settings WHERE name = 'seqmodel.threads'" | tail -1)
    if [ "$threads_guc" != 1 ]; then
        note "seqmodel.threads is not defined by the installed library: one pass at its default thread count (reported as threads 0)"
        threads_list=0
    fi
}
set_threads() { [ "$1" = 0 ] && echo "SET max_parallel_workers_per_gather = 0;" || echo "SET max_parallel_workers_per_gather = 0; SET seqmodel.threads = $1;"; }

# engine_ref THREADS BINARY WORKLOAD...: the engine alone (bench_rnn / bench_tfm,
# same source tree), timed right before the SQL statements at each thread
# count, so SQL/engine compares like with like: "engine WORKLOAD THREADS MS" lines
engine_ref() {
    local n=$1 bin=$2
    shift 2
    [ -n "$bin" ] && [ -x "$bin" ] && [ "$n" != 0 ] || return 0
    (cd "$work" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$bin" "$n" "$@" 2>>"$log") |
        /usr/bin/python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("engine", r["workload"], r["threads"], r["median_ms"])' >> "$out" \
        || note "the engine reference run ($(basename "$bin")) failed at threads $n"
}

# time_sql THREADS WHAT TAG SQL WARMUP REPS [DIVISOR]: WARMUP untimed runs of the
# statement SQL (the first loads the model into the backend's cache), then REPS
# timed ones, as "TAG THREADS MS" lines (MS / DIVISOR: per call of a statement
# that makes DIVISOR calls); WHAT names it in the note if it fails
time_sql() {
    local n=$1 what=$2 tag=$3 sql=$4 warm=$5 reps=$6 div=${7:-}
    {
        set_threads "$n"
        for _ in $(seq "$warm"); do echo "SELECT bench_ms(\$q\$$sql\$q\$);"; done
        for _ in $(seq "$reps"); do echo "SELECT '$tag $n ' || bench_ms(\$q\$$sql\$q\$)${div:+ / $div};"; done
    } | q | grep "^$tag $n " >> "$out" || note "$what timing failed at threads $n: $(tail -1 "$log")"
}
