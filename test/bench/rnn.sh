#!/usr/bin/env bash
# The recurrent-model benchmark: seqmodel's engine against PyTorch (CPU) and
# ONNX Runtime (CPU) on the peers' workloads W1_lstm, W2_gru and W5_lstm_b1
# (see test/bench/README.md), then the SQL path if the extension is installed.
#
#   bash test/bench/rnn.sh [ROUNDS]          (as root on Debian 12; ROUNDS default 3)
#
# Environment (all optional):
#   PEER_MODEL_DIR  models and inputs (default /tmp/peer-models; generated if absent)
#   PEERS_SRC       the peers' scripts (default ../shared/peers beside the repository,
#                   else /work/shared/peers)
#   ORT_DIR         where onnxruntime-node is npm-installed (default /tmp/ort)
#   BENCH_DIR       build output, logs and results (default /tmp/seqmodel-bench-rnn)
#   THREADS_LIST    default "1 2";  WORKLOADS  default "W1_lstm W2_gru W5_lstm_b1"
#   SQL=0           skip the SQL section;  SQL_INSTALL=1  run `make install` first
#   DEPS=0          do not check or install packages
#
# Fairness: every implementation gets the same thread count N (OPENBLAS_NUM_THREADS
# and OMP_NUM_THREADS = N in its environment; sm_set_threads(N) for seqmodel,
# torch.set_num_threads(N) for PyTorch, intraOpNumThreads = N for ONNX Runtime), the
# same weights and inputs, the same warm-up and timed run counts (workloads.json),
# one process per (implementation, workload, round), and the implementations
# alternate within each round (the order rotates from round to round), so
# machine noise falls on all of them alike.  Figures are medians.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
rounds=${1:-3}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash test/bench/rnn.sh [ROUNDS]" >&2; exit 2; }

export PEER_MODEL_DIR=${PEER_MODEL_DIR:-/tmp/peer-models}
if [ -z "${PEERS_SRC:-}" ]; then
    PEERS_SRC=$root/../shared/peers
    [ -f "$PEERS_SRC/models.py" ] || PEERS_SRC=/work/shared/peers
fi
ORT_DIR=${ORT_DIR:-/tmp/ort}
work=${BENCH_DIR:-/tmp/seqmodel-bench-rnn}
THREADS_LIST=${THREADS_LIST:-"1 2"}
WORKLOADS=${WORKLOADS:-"W1_lstm W2_gru W5_lstm_b1"}
PY=/usr/bin/python3      # Debian's python (torch, numpy, onnx), not a pyenv one on PATH
peers=$work/peers        # copies of the peers' scripts, with ort -> $ORT_DIR beside them
results=$work/results.jsonl
log=$work/log
mkdir -p "$work" "$peers"
: > "$log"

say() { echo "== $*"; }
die() { echo "rnn.sh: $*" >&2; exit 1; }

[ -f "$PEERS_SRC/models.py" ] || die "the peers' scripts are not in $PEERS_SRC (set PEERS_SRC)"

# ---------------------------------------------------------------- dependencies
if [ "${DEPS:-1}" = 1 ]; then
    say "dependencies"
    bash test/deps || die "test/deps failed"       # compiler, OpenBLAS, PostgreSQL (PGXS)
    missing=()
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
for f in models.py st.py peers_torch.py peers_ort.js package.json; do cp "$PEERS_SRC/$f" "$peers/"; done
ln -sfn "$ORT_DIR" "$peers/ort"

# ---------------------------------------------------------------- models
if [ ! -f "$PEER_MODEL_DIR/workloads.json" ] || [ ! -f "$PEER_MODEL_DIR/lstm_forecast.onnx" ] \
   || [ ! -f "$PEER_MODEL_DIR/gru_forecast.onnx" ]; then
    say "generating the peer models into $PEER_MODEL_DIR"
    (cd "$peers" && "$PY" -B models.py 2>>"$log") || die "models.py failed (see $log)"
fi
chmod a+rx "$PEER_MODEL_DIR" && chmod a+r "$PEER_MODEL_DIR"/*    # the SQL path's server reads them

# ---------------------------------------------------------------- build
say "building bench_rnn"
engine=1
if ! make -s -C "$root" src/engine/libsmengine.a >>"$log" 2>&1; then
    echo "building src/engine/libsmengine.a failed (tail of $log):"; tail -5 "$log"; engine=0
elif ! cc -std=gnu11 -O2 -Wall -Wextra -Isrc/engine -o "$work/bench_rnn" test/bench/bench_rnn.c \
        src/engine/libsmengine.a -lopenblas -lm >>"$log" 2>&1; then
    echo "building bench_rnn failed (tail of $log):"; tail -5 "$log"; engine=0
fi
[ $engine = 1 ] || echo "!! the seqmodel engine column will be empty; the peers still run"

# ---------------------------------------------------------------- timing
# one run: IMPL THREADS WORKLOAD ROUND -> a JSON line tagged with the round, appended to results
run_one() {
    local impl=$1 n=$2 wl=$3 r=$4 line rc
    case $impl in
        seqmodel) [ $engine = 1 ] || return 0
                  line=$(cd "$peers" && OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$work/bench_rnn" "$n" "$wl" 2>>"$log") ;;
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

: > "$results"
impls=(seqmodel pytorch ort)
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

# ---------------------------------------------------------------- SQL path
sql_args=()
if [ "${SQL:-1}" = 1 ]; then
    say "SQL path"
    if [ "${SQL_INSTALL:-0}" = 1 ]; then
        make -s -C "$root" -j2 >>"$log" 2>&1 && make -s -C "$root" install >>"$log" 2>&1 \
            || echo "make install failed (see $log)"
    fi
    if ! command -v pg_virtualenv >/dev/null; then
        echo "  skipped: pg_virtualenv is not installed (postgresql-common)"
    elif [ ! -f "$(pg_config --sharedir)/extension/seqmodel.control" ]; then
        echo "  skipped: the extension is not installed (make install)"
    else
        # W1's input and PyTorch's output as CSV for \copy
        "$PY" -B - "$PEER_MODEL_DIR" "$work" <<'EOF' || die "could not write W1's CSV files"
import os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "peers"))
import numpy as np, st
io, _ = st.read(os.path.join(sys.argv[1], "lstm_forecast.io.safetensors"))
x, y = io["input"][:, :, 0], io["output"][:, 0]
B, T = x.shape
with open(os.path.join(sys.argv[2], "w1_input.csv"), "w") as f:
    for b in range(B):
        f.write("".join(f"{b},{t},{v!r}\n" for t, v in enumerate(x[b].tolist())))
with open(os.path.join(sys.argv[2], "w1_ref.csv"), "w") as f:
    f.write("".join(f"{b},{v!r}\n" for b, v in enumerate(y.tolist())))
EOF
        chmod a+rx "$work" && chmod a+r "$work"/*.csv
        # the SQL path runs the installed library: say so if it is not this tree's engine
        installed=$(pg_config --pkglibdir)/seqmodel.so
        if [ ! -f "$root/seqmodel.so" ] || ! cmp -s "$installed" "$root/seqmodel.so"; then
            echo "  warning: the installed seqmodel.so is not this tree's build (make && make install, or SQL_INSTALL=1)"
        elif [ -n "$(find "$root/src/engine" -name '*.o' -newer "$root/seqmodel.so")" ]; then
            echo "  warning: this tree's seqmodel.so is older than its engine objects (make && make install, or SQL_INSTALL=1)"
        fi
        [ $engine = 1 ] && export BENCH_RNN=$work/bench_rnn
        # -t: a private cluster directory, so a 15/regress of a concurrent test run is untouched
        pg_virtualenv -t bash "$root/test/bench/rnn_sql.sh" "$work" $THREADS_LIST 2>>"$log" \
            || echo "  the SQL section failed (see $log and $work/sql.log)"
        [ -f "$work/sql.txt" ] && sql_args=(--sql "$work/sql.txt")
    fi
fi

# ---------------------------------------------------------------- report
echo
say "results ($results)"
"$PY" -B test/bench/report.py rnn "$results" "${sql_args[@]}"
