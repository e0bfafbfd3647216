#!/usr/bin/env bash
# Own shapes: seqmodel's engine against PyTorch (CPU) and ONNX Runtime (CPU) on
# recurrent and transformer shapes of our own choosing (test/bench/shapes_models.py:
# LSTM hidden 32/128/256 with 1 and 3 layers, a GRU, at T 24 and 512, batch 1 and
# 1024; transformer encoders d 128 / 2 layers and d 512 / 4 layers at L 32 and
# 512, batch 1 and 32; a small GPT-2-style scorer), side by side in one run, with
# ratios (see test/bench/README.md, "Own shapes").  No SQL path.
#
#   bash test/bench/shapes.sh [ROUNDS]        (as root on Debian 12; ROUNDS default 1)
#
# Environment (all optional):
#   SHAPES_MODEL_DIR  models and inputs (default /tmp/seqmodel-shapes-models; the
#                     missing ones are generated, workloads.json is rewritten each run)
#   PEERS_SRC       the peers' scripts (default ../shared/peers beside the repository,
#                   else /work/shared/peers)
#   ORT_DIR         where onnxruntime-node is npm-installed (default /tmp/ort)
#   BENCH_DIR       build output, logs and results (default /tmp/seqmodel-bench-shapes)
#   THREADS_LIST    default "1 2";  WORKLOADS  default: all of shapes_models.py
#   DEPS=0          do not check or install packages
#   OPENBLAS_CORETYPE etc. are passed through to every process (and said in the report)
#
# How: the peers' own timing scripts run the shapes unchanged.  The work folder's
# peers/ holds copies of peers_torch.py, peers_ort.js and st.py, the peers'
# models.py as peer_models.py, and shapes_models.py as models.py: peers_torch.py
# imports it as `models`, and peers_ort.js and bench_shapes read the
# workloads.json it writes into $PEER_MODEL_DIR (= SHAPES_MODEL_DIR).
#
# Fairness, as in rnn.sh and tfm.sh: every implementation gets the same thread
# count N (OPENBLAS_NUM_THREADS and OMP_NUM_THREADS = N in its environment;
# sm_set_threads(N) for seqmodel, torch.set_num_threads(N) for PyTorch,
# intraOpNumThreads = N for ONNX Runtime), the same weights and inputs, the same
# warm-up and timed run counts (workloads.json), one process per (implementation,
# shape, threads, round), and the implementations alternate within each round
# (the order rotates from round to round).  Figures are medians.  Every output is
# checked against PyTorch's stored output (normwise relative error < 1e-4).
set -uo pipefail
cd "$(dirname "$0")/../.."
bench=shapes                     # bench_shapes.c
export PEER_MODEL_DIR=${SHAPES_MODEL_DIR:-/tmp/seqmodel-shapes-models}   # not the standard models'
set -- "${1:-1}"
default_workloads=              # set below, from shapes_models.py
. test/bench/common.sh          # the steps, shared with rnn.sh and tfm.sh
bench_init "$@"

bench_deps                      # packages (unless DEPS=0), the peers' scripts into $peers
# this benchmark's models.py: shapes_models.py, with the peers' own beside it
cp "$PEERS_SRC/models.py" "$peers/peer_models.py"
cp test/bench/shapes_models.py "$peers/models.py"
[ -n "${WORKLOADS:-}" ] || WORKLOADS=$(cd "$peers" && "$PY" -B models.py list 2>>"$log") \
    || die "shapes_models.py list failed (see $log)"

say "models in $PEER_MODEL_DIR (the missing ones are written; reproducible, fixed seed)"
(cd "$peers" && "$PY" -B models.py write 2>>"$log") || die "shapes_models.py write failed (see $log)"

bench_build                     # $BENCH_DIR/bench_shapes, and the machine line
bench_timing                    # -> $BENCH_DIR/results.jsonl

echo
say "results ($results)"
[ -f "$work/machine.txt" ] && cat "$work/machine.txt"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores; rounds: $rounds"
(cd "$peers" && "$PY" -B models.py report "$results")
