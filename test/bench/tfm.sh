#!/usr/bin/env bash
# The transformer benchmark: seqmodel's engine against PyTorch (CPU) and ONNX
# Runtime (CPU) on the peers' workloads W3_encoder, W4_gpt_score and
# W5_encoder_b1 (see test/bench/README.md), then the SQL path if the extension
# is installed.
#
#   bash test/bench/tfm.sh [ROUNDS]          (as root on Debian 12; ROUNDS default 3)
#
# Environment (all optional):
#   PEER_MODEL_DIR  models and inputs (default /tmp/peer-models; generated if absent)
#   PEERS_SRC       the peers' scripts (default ../shared/peers beside the repository,
#                   else /work/shared/peers)
#   ORT_DIR         where onnxruntime-node is npm-installed (default /tmp/ort)
#   BENCH_DIR       build output, logs and results (default /tmp/seqmodel-bench-tfm)
#   THREADS_LIST    default "1 2";  WORKLOADS  default "W3_encoder W4_gpt_score W5_encoder_b1"
#   SQL=0           skip the SQL section;  SQL_INSTALL=1  run `make install` first
#   DEPS=0          do not check or install packages
#
# Fairness, as in rnn.sh: every implementation gets the same thread count N
# (OPENBLAS_NUM_THREADS and OMP_NUM_THREADS = N in its environment;
# sm_set_threads(N) for seqmodel, torch.set_num_threads(N) for PyTorch,
# intraOpNumThreads = N for ONNX Runtime), the same weights and inputs, the same
# warm-up and timed run counts (workloads.json), one process per (implementation,
# workload, round), and the implementations alternate within each round (the
# order rotates from round to round).  Figures are medians.
set -uo pipefail
cd "$(dirname "$0")/../.."
bench=tfm                        # bench_tfm.c, tfm_sql.sh, report.py tfm
default_workloads="W3_encoder W4_gpt_score W5_encoder_b1"
. test/bench/common.sh          # the steps below, shared with the other benchmark
bench_init "$@"

bench_deps                      # packages (unless DEPS=0), the peers' scripts
bench_models text_encoder gpt_scorer   # generated if absent
bench_build                     # $BENCH_DIR/bench_tfm
bench_timing                    # -> $BENCH_DIR/results.jsonl

# the SQL path, if the extension is installed
if sql_wanted; then
    # W3's and W4's token ids and PyTorch's outputs as CSV for \copy
    "$PY" -B - "$PEER_MODEL_DIR" "$work" <<'EOF' || die "could not write the CSV files"
import os, sys
sys.path.insert(0, os.path.join(sys.argv[2], "peers"))
import st
arr = lambda xs: '"{' + ",".join(xs) + '}"'
for model, tag in (("text_encoder", "w3"), ("gpt_scorer", "w4")):
    io, _ = st.read(os.path.join(sys.argv[1], model + ".io.safetensors"))
    x, y = io["input"], io["output"]
    with open(os.path.join(sys.argv[2], tag + "_input.csv"), "w") as f:
        f.write("".join(f"{b},{arr(str(int(t)) for t in x[b])}\n" for b in range(x.shape[0])))
    with open(os.path.join(sys.argv[2], tag + "_ref.csv"), "w") as f:
        f.write("".join(f"{b},{arr(repr(float(v)) for v in y[b].reshape(-1))}\n" for b in range(y.shape[0])))
EOF
    # as many rounds as the timing above, the engine reference and the SQL alternating
    sql_run SQL_ROUNDS="$rounds"
fi

bench_report
