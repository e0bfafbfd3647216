#!/usr/bin/env bash
# The tokenizer benchmark: seqmodel's tokenizers (bench_tok.c, the engine
# alone) against Hugging Face's tokenizers (tok_ref.js: the Rust library
# through its Node binding, npm tokenizers@0.23.2), one thread each, on the
# same corpus, for GPT-2 (byte-level BPE) and BERT (WordPiece).
#
#   bash test/bench/tok.sh [ROUNDS]            (ROUNDS default 3)
#
# Each round runs, per tokenizer, seqmodel and the reference one after the
# other (the order alternates from round to round), each in its own process
# encoding every corpus line 5 times after a warm-up; the table shows the
# median MB/s over the rounds and the ratio seqmodel / reference.
#
# Environment (all optional):
#   TOKREF_DIR  node_modules holding tokenizers (default /tmp/tokref/node_modules;
#               npm-installed there when missing)
#   CORPUS      default test/fixtures/tok/corpus.txt
#   BENCH_DIR   build output and raw results (default /tmp/seqmodel-bench-tok)
set -uo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash test/bench/tok.sh [ROUNDS]" >&2; exit 2; }
export TOKREF_DIR=${TOKREF_DIR:-/tmp/tokref/node_modules}
corpus=${CORPUS:-test/fixtures/tok/corpus.txt}
work=${BENCH_DIR:-/tmp/seqmodel-bench-tok}
mkdir -p "$work"
results=$work/results.jsonl
log=$work/log
: > "$results"
: > "$log"
die() { echo "tok.sh: $*" >&2; exit 1; }

# the reference, if missing
if [ ! -f "$TOKREF_DIR/tokenizers/package.json" ]; then
    command -v npm >/dev/null || die "npm is not installed (apt-get install -y nodejs npm)"
    root=$(dirname "$TOKREF_DIR")
    echo "== npm install tokenizers@0.23.2 into $root"
    mkdir -p "$root"
    (cd "$root" && { [ -f package.json ] || npm init -y >>"$log" 2>&1; } &&
        npm install --no-audit --no-fund tokenizers@0.23.2 >>"$log" 2>&1) || die "npm install failed (see $log)"
fi

echo "== building bench_tok"
make -s src/engine/libsmengine.a >>"$log" 2>&1 || die "building the engine failed (see $log)"
cc -std=gnu11 -O2 -Wall -Wextra -Isrc/engine -o "$work/bench_tok" test/bench/bench_tok.c \
    src/engine/libsmengine.a -lopenblas -lm >>"$log" 2>&1 || die "building bench_tok failed (see $log)"

run_one() {   # IMPL TOKENIZER ROUND
    local impl=$1 tok=$2 r=$3 json=test/fixtures/tok/$2/tokenizer.json line
    case $impl in
        seqmodel)  line=$("$work/bench_tok" "$json" "$corpus" 5 2>>"$log") ;;
        reference) line=$(RAYON_NUM_THREADS=1 node test/bench/tok_ref.js "$json" "$corpus" 5 2>>"$log") ;;
    esac
    line=$(echo "$line" | grep '^{' | tail -1)
    [ -n "$line" ] || { echo "   $impl $tok failed (see $log)"; return 0; }
    echo "{\"impl\": \"$impl\", \"name\": \"$tok\", \"round\": $r, \"result\": $line}" >> "$results"
    printf '   %-9s %-5s %7.2f MB/s\n' "$impl" "$tok" \
        "$(echo "$line" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["mb_per_s"])')"
}

echo "== timing: $rounds rounds, $(wc -c < "$corpus") bytes of $corpus, one thread"
for r in $(seq "$rounds"); do
    echo "-- round $r/$rounds"
    for tok in gpt2 bert; do
        if [ $((r % 2)) = 1 ]; then run_one seqmodel $tok "$r"; run_one reference $tok "$r"
        else run_one reference $tok "$r"; run_one seqmodel $tok "$r"; fi
    done
done

echo
/usr/bin/python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("%-6s %14s %14s %8s %8s" % ("tok", "seqmodel MB/s", "reference MB/s", "ratio", "tokens"))
for tok in ("gpt2", "bert"):
    mb = {i: [r["result"]["mb_per_s"] for r in rows if r["name"] == tok and r["impl"] == i] for i in ("seqmodel", "reference")}
    toks = {r["result"]["tokens"] for r in rows if r["name"] == tok}
    if not mb["seqmodel"] or not mb["reference"]:
        print("%-6s  (missing runs)" % tok); continue
    s, ref = statistics.median(mb["seqmodel"]), statistics.median(mb["reference"])
    # both must count the same tokens (same ids: the unit tests check them line by line)
    print("%-6s %14.2f %14.2f %7.1fx %8s" % (tok, s, ref, s / ref, "same" if len(toks) == 1 else "DIFFER"))
PY
