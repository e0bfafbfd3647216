#!/usr/bin/env bash
# Translation throughput: seqmodel's engine (sm_decode over a transformer_seq2seq
# model, bench_translate.c) against PyTorch (the tutorial's Seq2SeqTransformer
# and decode loop, translate_torch.py), in sentences/s, greedy and beam 4, at
# batch 1 and 64, 1 and 2 threads, on the same weights, sources and decode
# definitions; checks that both produce the same token ids (see
# test/bench/README.md, "Translation throughput").  No SQL path, no timing
# assertion.
#
#   bash test/bench/translate.sh [ROUNDS]      (Debian 12 with python3-torch; ROUNDS default 1,
#                                               5.5 to 10.5 minutes on the 2-core machine)
#   OPENBLAS_CORETYPE=Prescott bash test/bench/translate.sh   (the environment is passed through)
#
# Models:
#   marian   d_model 512, 8 heads, 6 + 6 layers, ffn 2048, vocabularies 8000 / 8000,
#            random weights (seeded), written by translate_torch.py into
#            $TRANSLATE_MODEL_DIR (default /tmp/seqmodel-translate-models) if absent
#   demo     test/data/translate_tfm.safetensors + translate_tfm.json (the translation
#            demo's model), when the files exist; skipped with a message otherwise
#
# Environment (all optional):
#   THREADS_LIST  default "1 2";  MODES  default "greedy beam4";  BATCHES  default "1 64"
#   MODELS        default "marian demo"
#   N1            sources decoded at batch 1, one call each (default 4; batch 64 decodes 64)
#   MAX_NEW       max_new_tokens (default 24; 32 takes 1.6x as long, PyTorch's loop being
#                 quadratic in the output length)
#   TRANSLATE_MODEL_DIR, BENCH_DIR (default /tmp/seqmodel-bench-translate: log, results.jsonl)
#
# Fairness: the same thread count N for both (OPENBLAS_NUM_THREADS and
# OMP_NUM_THREADS = N in the environment, sm_set_threads(N) /
# torch.set_num_threads(N)), the same weights, sources, max_new_tokens and
# decode definitions, one process per (implementation, model, mode, batch,
# threads, round), each with one untimed warm-up decode, and the two
# implementations alternate within each round (the order swaps from round to
# round).  Figures are medians over the rounds.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck disable=SC2034  # bench: read by common.sh (die, bench_build)
bench=translate                  # bench_translate.c, report.py translate
# shellcheck source=test/bench/common.sh
. test/bench/common.sh           # say, die, bench_build
engine=0                         # set by bench_build

root=$(pwd)
rounds=${1:-1}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash test/bench/translate.sh [ROUNDS]" >&2; exit 2; }
PY=/usr/bin/python3              # Debian's python with torch
THREADS_LIST=${THREADS_LIST:-"1 2"}
MODES=${MODES:-"greedy beam4"}
BATCHES=${BATCHES:-"1 64"}
MODELS=${MODELS:-"marian demo"}
N1=${N1:-4}
MAX_NEW=${MAX_NEW:-24}
mdir=${TRANSLATE_MODEL_DIR:-/tmp/seqmodel-translate-models}
work=${BENCH_DIR:-/tmp/seqmodel-bench-translate}
results=$work/results.jsonl
log=$work/log
mkdir -p "$work" "$mdir"
: > "$log"
: > "$results"
"$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch (apt-get install python3-torch)"

# the models: NAME -> weights, config (text for sm_model_begin), sources, max_new
declare -A m_st m_cfg m_src m_new
models=()
say "models"
for name in $MODELS; do
    case $name in
        marian)
            "$PY" -B test/bench/translate_torch.py write "$mdir" 2>>"$log" || die "translate_torch.py write failed (see $log)"
            st=$mdir/marian.safetensors json=$mdir/marian.json src=$mdir/marian.sources.json ;;
        demo)
            st=$root/test/data/translate_tfm.safetensors json=$root/test/data/translate_tfm.json
            src=$work/translate_tfm.sources.json
            if [ ! -f "$st" ] || [ ! -f "$json" ]; then
                echo "  demo: skipped: $st and translate_tfm.json are not there (yet)"; continue
            fi
            "$PY" -B test/bench/translate_torch.py sources "$json" "$src" 2>>"$log" \
                || { echo "  demo: skipped: cannot make sources from $json (see $log)"; continue; } ;;
        *) die "unknown model $name (marian, demo)" ;;
    esac
    # the config alone, as text; max_new clamped to the model's positions
    cfg=$work/$name.config.json
    new=$("$PY" - "$json" "$cfg" "$MAX_NEW" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
c = doc.get("config", doc)
c = json.loads(c) if isinstance(c, str) else c
open(sys.argv[2], "w").write(json.dumps(c))
print(min(int(sys.argv[3]), int(c.get("max_len", 5000))))
EOF
) || die "cannot read the config of $json"
    m_st[$name]=$st m_cfg[$name]=$cfg m_src[$name]=$src m_new[$name]=$new
    models+=("$name")
    echo "  $name: $st ($(du -h "$st" | cut -f1)), max_new_tokens $new"
done
[ ${#models[@]} -gt 0 ] || die "no model to run"

bench_build                      # $work/bench_translate, and the machine line (bench_info)
echo "load: $(uptime | sed 's/.*load average/load average/')" | tee -a "$work/machine.txt"

# one run: IMPL MODEL MODE BATCH THREADS ROUND -> a JSON line tagged with the round
run_one() {
    local impl=$1 name=$2 mode=$3 batch=$4 n=$5 r=$6 line rc count
    count=$N1
    [ "$batch" = 1 ] || count=$batch
    case $impl in
        seqmodel) [ "$engine" = 1 ] || return 0
                  line=$(OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n "$work/bench_translate" "${m_st[$name]}" \
                         "${m_cfg[$name]}" "${m_src[$name]}" "$n" "$mode" "$batch" "$count" "${m_new[$name]}" 2>>"$log") ;;
        pytorch)  line=$(OPENBLAS_NUM_THREADS=$n OMP_NUM_THREADS=$n OMP_WAIT_POLICY=PASSIVE "$PY" -B \
                         test/bench/translate_torch.py run "${m_st[$name]}" "${m_cfg[$name]}" "${m_src[$name]}" \
                         "$n" "$mode" "$batch" "$count" "${m_new[$name]}" 2>>"$log") ;;
    esac
    rc=$?
    line=$(echo "$line" | grep '^{' | tail -1)
    if [ -z "$line" ]; then
        printf '   %-9s failed (exit %d; see %s)\n' "$impl" "$rc" "$log"; return 0
    fi
    echo "$line" | sed "s/^{/{\"round\": $r, /" >> "$results"
    echo "$line" | "$PY" -c 'import json,sys; r=json.load(sys.stdin)
print("   %-9s %8.3f s  %7.2f sentences/s  %5d tokens" % (sys.argv[1], r["seconds"], r["sent_per_s"], r["tokens"]))' "$impl"
}

impls=(seqmodel pytorch)
say "timing: $rounds round(s) x threads {$THREADS_LIST} x {${models[*]}} x {$MODES} x batch {$BATCHES}; N1 $N1, max_new_tokens $MAX_NEW"
for r in $(seq "$rounds"); do
    for n in $THREADS_LIST; do
        for name in "${models[@]}"; do
            for mode in $MODES; do
                for batch in $BATCHES; do
                    echo "-- round $r/$rounds, threads $n, $name, $mode, batch $batch"
                    for k in 0 1; do                     # swap the order each round
                        run_one "${impls[$(( (k + r - 1) % 2 ))]}" "$name" "$mode" "$batch" "$n" "$r"
                    done
                done
            done
        done
    done
done

echo
say "results ($results)"
cat "$work/machine.txt"
echo "load at the end: $(uptime | sed 's/.*load average/load average/')"
echo "rounds: $rounds; N1 $N1; max_new_tokens $MAX_NEW"
"$PY" -B test/bench/report.py translate "$results"
