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
bench=rnn                        # bench_rnn.c, rnn_sql.sh, report.py rnn
default_workloads="W1_lstm W2_gru W5_lstm_b1"
. test/bench/common.sh          # the steps below, shared with the other benchmark
bench_init "$@"

bench_deps                      # packages (unless DEPS=0), the peers' scripts
bench_models lstm_forecast gru_forecast   # generated if absent
bench_build                     # $BENCH_DIR/bench_rnn
bench_timing                    # -> $BENCH_DIR/results.jsonl

# the SQL path, if the extension is installed
if sql_wanted; then
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
    sql_run
fi

bench_report
