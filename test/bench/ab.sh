#!/usr/bin/env bash
# Two builds of the engine, alternated: the same benchmark binary (bench_rnn or
# bench_tfm) built from two git revisions, run one after the other ROUNDS times,
# with the median and the fastest of each build's per-run medians, and each
# round's median (a slow phase of the VM shows as a run of high values).  On
# the noisy 2-core development VMs a change of a few percent is only visible
# this way: runs of one build taken minutes apart compare two machines.
#
#   bash test/bench/ab.sh REV_A REV_B [BENCH] [THREADS] [ROUNDS] [WORKLOAD ...]
#     BENCH     rnn (default) or tfm
#     THREADS   default 1;  ROUNDS  default 9
#     WORKLOAD  default W1_lstm (rnn) / W3_encoder (tfm)
#   e.g. bash test/bench/ab.sh HEAD~1 HEAD rnn 1 9 W1_lstm W5_lstm_b1
#
# Each revision is checked out into a temporary worktree and built there
# (`make src/engine/libsmengine.a`, then cc as in rnn.sh / tfm.sh); the working
# tree here is not touched.  Models and inputs: $PEER_MODEL_DIR (default
# /tmp/peer-models, written by rnn.sh / tfm.sh).  Accuracy is checked by the
# benchmark itself (a failed check stops the script).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,17p' "$0"; exit 2; }
rev_a=$1 rev_b=$2 bench=${3:-rnn} threads=${4:-1} rounds=${5:-9}
shift $(( $# < 5 ? $# : 5 ))
if [ $# -gt 0 ]; then workloads=("$@"); elif [ "$bench" = tfm ]; then workloads=(W3_encoder); else workloads=(W1_lstm); fi
export PEER_MODEL_DIR=${PEER_MODEL_DIR:-/tmp/peer-models}
[ -f "$PEER_MODEL_DIR/workloads.json" ] || { echo "ab.sh: no $PEER_MODEL_DIR/workloads.json (run test/bench/$bench.sh once)" >&2; exit 2; }
work=$(mktemp -d /tmp/seqmodel-ab.XXXXXX)
trap 'for s in a b; do git worktree remove --force "$work/$s" 2>/dev/null || true; done; rm -rf "$work"' EXIT

for s in a b; do
    rev=$rev_a; [ $s = b ] && rev=$rev_b
    git worktree add -q --detach "$work/$s" "$rev"
    (cd "$work/$s" && make -s src/engine/libsmengine.a >/dev/null &&
     cc -O2 -Isrc/engine -o "$work/bench_$s" "test/bench/bench_$bench.c" src/engine/libsmengine.a \
        -lopenblas -lm -lpthread)
    echo "build $s: $rev ($(git rev-parse --short "$rev"))"
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); threads $threads; rounds $rounds; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"

for w in "${workloads[@]}"; do
    : > "$work/times"
    for r in $(seq "$rounds"); do
        order="a b"; [ $((r % 2)) -eq 0 ] && order="b a"
        for s in $order; do
            OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$work/bench_$s" "$threads" "$w" \
                2>>"$work/log" | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
if d.get("check") != "ok":
    sys.exit("accuracy check failed: %s" % d)
print(sys.argv[1], d["median_ms"])' "$s" >> "$work/times"
        done
    done
    python3 - "$work/times" "$w" "$rev_a" "$rev_b" <<'EOF'
import statistics, sys
t = {"a": [], "b": []}
for line in open(sys.argv[1]):
    s, ms = line.split()
    t[s].append(float(ms))
ma, mb = statistics.median(t["a"]), statistics.median(t["b"])
print("%-12s A %-10s median %9.3f ms (fastest %9.3f)   B %-10s median %9.3f ms (fastest %9.3f)   B/A %.3f"
      % (sys.argv[2], sys.argv[3], ma, min(t["a"]), sys.argv[4], mb, min(t["b"]), mb / ma))
# each round's median, in run order
print("%-12s A rounds %s" % ("", " ".join("%.4g" % v for v in t["a"])))
print("%-12s B rounds %s" % ("", " ".join("%.4g" % v for v in t["b"])))
EOF
done
