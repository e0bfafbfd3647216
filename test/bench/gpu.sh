#!/usr/bin/env bash
# The GPU benchmark: seqmodel inside PostgreSQL on the GPU (seqmodel.device = cuda) against
# PyTorch on the same GPU, side by side in one run, and the SQL end-to-end speedup of the GPU
# over the CPU of the same machine.  Run from the repository root, with the extension
# installed (on the GPU machine test/gpu/run.sh builds and installs it first):
#
#   bash test/bench/gpu.sh                 # the GPU machine (about 3 minutes)
#   DRY=1 bash test/bench/gpu.sh           # any machine: small sizes, torch on the CPU and
#                                          # seqmodel.device = cpu (checks the script, not speed)
#
# PostgreSQL: the running cluster that PGHOST/PGPORT point at when one answers (on the GPU
# machine, the one `source .gpu/pg-up.sh` started; a fresh database seqmodel_gpu_bench is
# made in it), else a throwaway one (pg_virtualenv -t).  The script runs itself (--sql) there.
#
# Workloads (the peers' models, /work/shared/peers/models.py: see test/bench/README.md):
#   W1_lstm       2-layer LSTM (hidden 64, input 1, T 168, linear head): 4096 and 65536 series;
#                 seqmodel: forecast_query(horizon 1) over a (series, t, value) table;
#                 PyTorch: torch.nn.LSTM (cuDNN on the GPU)
#   W3_encoder    the encoder classifier (d 256, 4 layers, 128 tokens): batch 64 and 512;
#                 seqmodel: score_query(..., 'classify', ...) over that many texts
#   W4_gpt_score  GPT-2-style scoring (d 384, 6 layers, 256 tokens): batch 64 and 512;
#                 seqmodel: score_query(..., 'logprob', ...)
#   each in fp32 and bf16 (PyTorch: TF32 off / torch.autocast bf16; seqmodel:
#   seqmodel.gpu_precision, when the installed build has it, else a note and no bf16 figure)
#   e2e_fq        forecast_query (horizon 24) over 100 000 rows (595 series x 168 steps), and
#   e2e_score     score_query classify over 100 000 texts (4 to 12 words), each with
#                 seqmodel.device = cpu and = cuda (seqmodel.threads = nproc in both); their
#                 outputs compared on a subset
#   concurrency   CONC (8) sessions scoring their share of the 100 000 texts at once on the
#                 GPU: total rows/s, and GPU memory per backend (nvidia-smi's compute apps,
#                 read while every backend still holds its context and the model)
# Every figure is a median of server-side timings (clock_timestamp() around EXECUTE, after a
# warm-up in the same session), parallel query off.  The table at the end: workload, batch,
# precision, seqmodel ms, torch ms, ratio = torch ms / seqmodel ms, then the end-to-end rows,
# then the machine (nvidia-smi's name, lscpu's CPU model).
#
# Environment (all optional): DRY=1; BENCH_DIR (default /tmp/seqmodel-bench-gpu: inputs,
# torch.jsonl, sql.txt, sql.log, report.txt); PEER_MODEL_DIR (default /tmp/peer-models: the
# peers' model files, used when there, else generated the same way into BENCH_DIR/models);
# PEERS_SRC (the peers' scripts: default ../shared/peers, /work/shared/peers, .gpu/peers);
# W1_BATCHES, TFM_BATCHES, PRECISIONS ("fp32 bf16"; tf32 too if wanted), E2E_SERIES (595),
# SCORE_ROWS (100000), CONC (8), REPS (3), E2E_REPS (2), THREADS (nproc, at most 64),
# STMT_TIMEOUT (seconds per SQL statement, 120), BENCH_BUDGET (seconds for the whole script,
# 300; DRY 600: a quarter, at least 60 s, for PyTorch, the rest for SQL), SQL=0 (PyTorch only),
# PYTHON (a python with torch; default /usr/bin/python3, else python3).
# Exit status: 0 when both PyTorch and seqmodel produced figures, else 1.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # bench: for common.sh's die
bench=gpu
# shellcheck source=common.sh
. "$here/common.sh"             # say, die; the SQL side: sql_init, note, q, have, bench_ms_sql

# ================================================================ SQL side (--sql WORK)
if [ "${1:-}" = --sql ]; then
    sql_init "$2"               # work, out (sql.txt), log (sql.log); CREATE EXTENSION, or a note and exit 0
    : "${W1_BATCHES:?}" "${TFM_BATCHES:?}" "${PRECISIONS:?}" "${E2E_SERIES:?}" "${SCORE_ROWS:?}" \
      "${CONC:?}" "${DEV_GPU:?}" "${THREADS:?}" "${REPS:?}" "${E2E_REPS:?}" "${STMT_TIMEOUT:?}"
    w1_max=$(printf '%s\n' $W1_BATCHES "$E2E_SERIES" | sort -n | tail -1)
    # the configs of the peers' models, as test/bench/rnn_sql.sh and tfm_sql.sh import them
    w1_cfg='{"input_size": 1, "hidden_size": 64, "num_layers": 2, "output_size": 1, "rnn_prefix": "lstm.", "head_prefix": "head."}'
    w3_cfg='{"vocab_size": 8000, "d_model": 256, "nhead": 4, "dim_feedforward": 1024, "num_layers": 4, "activation": "gelu", "positional": "learned", "max_len": 512, "embedding_prefix": "embed.", "position_prefix": "pos.", "pooling": "mean", "output_size": 2, "head_prefix": "classifier."}'
    w4_cfg='{"vocab_size": 8000, "n_positions": 1024, "n_embd": 384, "n_layer": 6, "n_head": 6, "n_inner": 1536, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "conv1d": false}'

    # the settings that may not be in the installed build; each q is a new session, so the
    # library is loaded (any of its functions) before pg_settings is asked
    guc() { q -c "SELECT count(*) FROM seqmodel.compute_info()" -c "SELECT count(*) FROM pg_settings WHERE name = 'seqmodel.$1'" | tail -1; }
    has_prec=0; prec_vals=
    if [ "$(guc gpu_precision)" = 1 ]; then
        has_prec=1
        prec_vals=$(q -c "SELECT count(*) FROM seqmodel.compute_info()" \
                      -c "SELECT array_to_string(enumvals, ' ') FROM pg_settings WHERE name = 'seqmodel.gpu_precision'" | tail -1)
        echo "info seqmodel.gpu_precision: $prec_vals" >> "$out"
    else
        note "seqmodel.gpu_precision: skipped: not in this build (products at the module's default, fp32; no seqmodel bf16/tf32 figures)"
    fi
    if [ "$(guc gpu_max_backends)" = 1 ]; then
        echo "info seqmodel.gpu_max_backends = $(q -c "SELECT count(*) FROM seqmodel.compute_info()" -c "SHOW seqmodel.gpu_max_backends" | tail -1)" >> "$out"
    else
        note "seqmodel.gpu_max_backends: skipped: not in this build"
    fi
    has_devinfo=0
    if [ "$(q -c "SELECT to_regprocedure('seqmodel.device_info()') IS NOT NULL")" = t ]; then
        has_devinfo=1
    else
        note "seqmodel.device_info(): skipped: not in this build"
    fi

    # SET statements for one session: device, precision (when the build has it), threads
    settings() {   # DEVICE PRECISION THREADS
        echo "SELECT count(*) FROM seqmodel.compute_info();"     # loads the library
        # enable_sort off: W1's series come in key order from the primary key, never from a
        # sort of the whole table, whatever the share of the table a batch takes
        echo "SET max_parallel_workers_per_gather = 0; SET enable_sort = off; SET seqmodel.threads = $3; SET seqmodel.device = '$1'; SET statement_timeout = '${STMT_TIMEOUT}s';"
        [ $has_prec = 1 ] && [ "$1" != cpu ] && echo "SET seqmodel.gpu_precision = '$2';"
        return 0
    }
    # whether seqmodel runs PRECISION on the GPU device here (a note once if not)
    declare -A prec_noted=()
    prec_ok() {
        [ "$1" = fp32 ] && return 0
        local why=
        if [ "$DEV_GPU" = cpu ]; then why="the CPU has no $1 path (DRY: seqmodel.device = cpu)"
        elif [ $has_prec = 0 ]; then why="seqmodel.gpu_precision not in this build"
        elif [[ " $prec_vals " != *" $1 "* ]]; then why="seqmodel.gpu_precision has no value $1 ($prec_vals)"
        fi
        [ -z "$why" ] && return 0
        [ -n "${prec_noted[$1]:-}" ] || note "seqmodel $1: skipped: $why"
        prec_noted[$1]=1
        return 1
    }
    # time_dev "KIND BATCH PRECISION DEVICE" DEVICE PRECISION WARM_SQL REPS SQL [THREADS]:
    # in one session, WARM_SQL (whole statements: the warm-up, which may print "err ..."
    # lines), then REPS timed runs of SQL ("time TAG MS"), then the session's GPU counters
    # ("dev TAG PRODUCTS FALLBACKS CACHED_BYTES")
    time_dev() {
        local tag=$1 dev=$2 prec=$3 warm=$4 reps=$5 sql=$6 threads=${7:-$THREADS} rc
        {
            settings "$dev" "$prec" "$threads"
            [ -n "$warm" ] && echo "$warm"
            for _ in $(seq "$reps"); do echo "SELECT 'time $tag ' || bench_ms(\$q\$$sql\$q\$);"; done
            echo "SELECT 'dev $tag ' || coalesce(gpu_products, 0) || ' ' || coalesce(gpu_fallbacks, 0) || ' ' || coalesce(gpu_cached_bytes, 0) FROM seqmodel.compute_info();"
        } | q | grep -E '^(time|dev|err) ' >> "$out"
        rc=${PIPESTATUS[1]}
        [ "$rc" = 0 ] || note "$tag: failed (psql exit $rc): $(tail -1 "$log")"
        grep -E "^(time|err) $tag " "$out" | tail -$((reps + 1)) | sed 's/^/  /'
    }
    # time_input "KIND BATCH" SQL: the statement's input alone (no model), REPS runs after one
    time_input() {
        local tag=$1 sql=$2
        { settings cpu fp32 "$THREADS"; echo "SELECT bench_ms(\$q\$$sql\$q\$);"
          for _ in $(seq "$REPS"); do echo "SELECT 'input $tag ' || bench_ms(\$q\$$sql\$q\$);"; done
        } | q | grep '^input ' >> "$out" || note "input $tag: failed: $(tail -1 "$log")"
    }

    # ---------------------------------------------------------------- models, tables
    say "SQL: models and tables ($w1_max series for W1, $SCORE_ROWS texts)"
    ok_w1=1; ok_w3=1; ok_w4=1
    q -c "SELECT seqmodel.import_safetensors_file('w1', 'lstm', '$w1_cfg', '$W1_FILE')" >/dev/null \
        || { ok_w1=0; note "importing W1 ($W1_FILE) failed: $(tail -1 "$log"); W1 and e2e_fq skipped"; }
    q -c "SELECT seqmodel.import_safetensors_file('w3', 'transformer', '$w3_cfg', '$W3_FILE')" \
      -c "SELECT seqmodel.import_tokenizer_wordpiece('w3', pg_read_file('$work/vocab.txt'), true)" >/dev/null \
        || { ok_w3=0; note "importing W3 ($W3_FILE) or its vocabulary failed: $(tail -1 "$log"); W3, e2e_score and concurrency skipped"; }
    q -c "SELECT seqmodel.import_safetensors_file('w4', 'gpt2', '$w4_cfg', '$W4_FILE')" \
      -c "SELECT seqmodel.import_tokenizer_wordpiece('w4', pg_read_file('$work/vocab.txt'), true)" >/dev/null \
        || { ok_w4=0; note "importing W4 ($W4_FILE) or its vocabulary failed: $(tail -1 "$log"); W4 skipped"; }
    # W1's series (the same formula as gpu_torch.py's w1_input, float64 then real); the
    # LATERAL argument (s - s) keeps s the outer loop, so the rows go in in key order
    q <<SQL || { note "making the tables failed: $(tail -1 "$log"); SQL section ends"; exit 0; }
SET work_mem = '256MB';
SET maintenance_work_mem = '1GB';
CREATE UNLOGGED TABLE w1 (series int, t int, value real);
INSERT INTO w1 SELECT s, t, (sin(0.1::float8 * t + 0.37::float8 * s) + 0.3::float8 * sin(0.023::float8 * t * (1 + s % 5)))::real
  FROM generate_series(0, $w1_max - 1) s CROSS JOIN LATERAL generate_series(s - s, 167) t;
ALTER TABLE w1 ADD PRIMARY KEY (series, t);
CREATE UNLOGGED TABLE w1_ref (series int PRIMARY KEY, y float8);
CREATE UNLOGGED TABLE w3_text (id int PRIMARY KEY, body text);
\copy w3_text FROM '$work/w3_text.csv' (FORMAT csv)
CREATE UNLOGGED TABLE w3_ids (id int PRIMARY KEY, ids int[]);
\copy w3_ids FROM '$work/w3_ids.csv' (FORMAT csv)
CREATE UNLOGGED TABLE w3_ref (id int PRIMARY KEY, p0 float8, p1 float8);
CREATE UNLOGGED TABLE w4_text (id int PRIMARY KEY, body text);
\copy w4_text FROM '$work/w4_text.csv' (FORMAT csv)
CREATE UNLOGGED TABLE w4_ids (id int PRIMARY KEY, ids int[]);
\copy w4_ids FROM '$work/w4_ids.csv' (FORMAT csv)
CREATE UNLOGGED TABLE w4_ref (id int PRIMARY KEY, score float8);
-- the end-to-end texts: 4 to 12 words of the vocabulary, a fixed pattern
CREATE UNLOGGED TABLE e2e_text AS
  SELECT id, (SELECT string_agg('w' || (5 + (id * 7919 + k * 104729) % 7995), ' ')
                FROM generate_series(1, 4 + id % 9) k) AS body
    FROM generate_series(1, $SCORE_ROWS) id;
ALTER TABLE e2e_text ADD PRIMARY KEY (id);
ANALYZE;
$bench_ms_sql
SQL
    # the warm-up statement of a timing is its check against PyTorch where there is a reference
    has_ref_w1=0; has_ref_w3=0; has_ref_w4=0
    for r in w1 w3 w4; do
        if [ -f "$work/${r}_ref.csv" ]; then
            if q -c "\\copy ${r}_ref FROM '$work/${r}_ref.csv' (FORMAT csv)"; then
                declare "has_ref_$r=1"
            else
                note "loading ${r}_ref.csv failed: $(tail -1 "$log")"
            fi
        else
            note "no PyTorch reference ${r}_ref.csv (the PyTorch part failed?): ${r^^}'s error not checked"
        fi
    done
    echo "  $(q -c "SELECT count(DISTINCT series) || ' series, ' || count(*) || ' rows in w1; ' || (SELECT count(*) FROM e2e_text) || ' texts, ' || (SELECT round(avg(array_length(seqmodel.tokenize('w3', body), 1)), 1) FROM e2e_text WHERE id <= 1000) || ' tokens each on average' FROM w1")"
    # the texts must give exactly the ids PyTorch is fed
    for m in w3 w4; do
        ok_var=ok_$m; [ "${!ok_var}" = 1 ] || continue
        r=$(q -c "SELECT count(*) FILTER (WHERE seqmodel.tokenize('$m', t.body) = i.ids) || ' ' || count(*) FROM ${m}_text t JOIN ${m}_ids i USING (id)") \
            || { note "tokenize('$m') failed: $(tail -1 "$log")"; continue; }
        read -r same all <<< "$r"
        echo "info tokenize check ${m^^}: $same of $all texts give the ids PyTorch is fed" >> "$out"
        [ "$same" = "$all" ] || note "tokenize('$m'): only $same of $all texts give PyTorch's ids: ${m^^}'s comparison is not like with like"
    done

    # ---------------------------------------------------------------- the device
    gpu_ok=1
    if [ "$DEV_GPU" != cpu ] && [ $ok_w1 = 1 ]; then
        r=$( { settings "$DEV_GPU" fp32 "$THREADS"
               echo "SELECT count(*) FROM seqmodel.forecast_query('w1', 'SELECT series, value FROM w1 WHERE series < 2 ORDER BY series, t', 1);"
               echo "SELECT 'gpu ' || gpu || ' | products ' || gpu_products || ', fallbacks ' || gpu_fallbacks FROM seqmodel.compute_info();"
             } | q | grep '^gpu ')
        if [ -z "$r" ]; then
            gpu_ok=0
            note "seqmodel.device = $DEV_GPU does not run here: $(tail -1 "$log"); no seqmodel GPU figures"
        else
            echo "info ${r#gpu }" >> "$out"; echo "  ${r#gpu }"
        fi
    fi
    echo "info plan of W1's largest query: $( { settings cpu fp32 1; echo "EXPLAIN (COSTS OFF) SELECT series, value FROM w1 WHERE series < $w1_max ORDER BY series, t;"; } | q | grep -v '^[0-9]*$' | grep -v '^SET' | head -1)" >> "$out"
    echo "info $(q -c "SELECT 'backend ' || backend || ', kernels ' || kernels || ', cpu ' || cpu || ', threads $THREADS' FROM seqmodel.compute_info()")" >> "$out"
    [ $gpu_ok = 1 ] || DEV_GPU=none

    # ---------------------------------------------------------------- W1, W3, W4 on the GPU
    if [ "$DEV_GPU" != none ]; then
        say "SQL: the workloads with seqmodel.device = $DEV_GPU"
        for b in $W1_BATCHES; do
            [ $ok_w1 = 1 ] || break
            qry="SELECT series, value FROM w1 WHERE series < $b ORDER BY series, t"
            time_input "W1_lstm $b" "SELECT count(*) FROM ($qry) s"
            for prec in $PRECISIONS; do
                prec_ok "$prec" || continue
                tag="W1_lstm $b $prec $DEV_GPU"
                errq="SELECT 'err $tag ' || (max(abs(f.value - r.y)) / nullif((SELECT max(abs(y)) FROM w1_ref WHERE series < $b), 0)) || ' ' || count(*)
                        FROM seqmodel.forecast_query('w1', '$qry', 1) f JOIN w1_ref r ON r.series::text = f.series;"
                sql="SELECT count(*) FROM seqmodel.forecast_query('w1', '$qry', 1)"
                [ "$has_ref_w1" = 1 ] || errq="$sql;"
                time_dev "$tag" "$DEV_GPU" "$prec" "$errq" "$REPS" "$sql"
            done
        done
        for b in $TFM_BATCHES; do
            for wl in W3_encoder W4_gpt_score; do
                if [ $wl = W3_encoder ]; then m=w3; task=classify; [ $ok_w3 = 1 ] || continue
                else m=w4; task=logprob; [ $ok_w4 = 1 ] || continue; fi
                sq="seqmodel.score_query('$m', '$task', 'SELECT id, body FROM ${m}_text WHERE id < $b')"
                time_input "$wl $b" "SELECT count(seqmodel.tokenize('$m', body)) FROM ${m}_text WHERE id < $b"
                for prec in $PRECISIONS; do
                    prec_ok "$prec" || continue
                    tag="$wl $b $prec $DEV_GPU"
                    if [ $m = w3 ]; then
                        e="max(greatest(abs(s.output[1] - r.p0), abs(s.output[2] - r.p1))) / nullif(max(greatest(abs(r.p0), abs(r.p1))), 0)"
                    else
                        e="max(abs(s.output[1] - r.score)) / nullif(max(abs(r.score)), 0)"
                    fi
                    errq="SELECT 'err $tag ' || ($e) || ' ' || count(*) FROM $sq s JOIN ${m}_ref r ON r.id::text = s.key;"
                    ref_var=has_ref_$m; [ "${!ref_var}" = 1 ] || errq="SELECT count(*) FROM $sq;"
                    time_dev "$tag" "$DEV_GPU" "$prec" "$errq" "$REPS" "SELECT count(*) FROM $sq"
                done
            done
        done
    fi

    # ---------------------------------------------------------------- end to end: cpu vs cuda
    say "SQL: end to end, seqmodel.device = cpu and = $DEV_GPU"
    devs=cpu; [ "$DEV_GPU" != none ] && [ "$DEV_GPU" != cpu ] && devs="cpu $DEV_GPU"
    [ "$DEV_GPU" = cpu ] && note "DRY: seqmodel.device = cpu only; the end-to-end cuda column stays empty"
    fq_rows=$((E2E_SERIES * 168))
    fq_qry="SELECT series, value FROM w1 WHERE series < $E2E_SERIES ORDER BY series, t"
    fq_warm="SELECT count(*) FROM seqmodel.forecast_query('w1', 'SELECT series, value FROM w1 WHERE series < 4 ORDER BY series, t', 24);"
    sc_warm="SELECT count(*) FROM seqmodel.score_query('w3', 'classify', 'SELECT id, body FROM e2e_text WHERE id <= 64');"
    for d in $devs; do
        [ $ok_w1 = 1 ] && time_dev "e2e_fq $fq_rows fp32 $d" "$d" fp32 "$fq_warm" "$E2E_REPS" \
            "SELECT count(*) FROM seqmodel.forecast_query('w1', '$fq_qry', 24)"
        [ $ok_w3 = 1 ] && time_dev "e2e_score $SCORE_ROWS fp32 $d" "$d" fp32 "$sc_warm" "$E2E_REPS" \
            "SELECT count(*) FROM seqmodel.score_query('w3', 'classify', 'SELECT id, body FROM e2e_text')"
    done
    # the GPU's answers against the CPU's, on a subset, in one session
    if [ "$devs" != cpu ]; then
        sub=$((E2E_SERIES < 64 ? E2E_SERIES : 64)); subt=$((SCORE_ROWS < 2000 ? SCORE_ROWS : 2000))
        fqs="seqmodel.forecast_query('w1', 'SELECT series, value FROM w1 WHERE series < $sub ORDER BY series, t', 24)"
        scs="seqmodel.score_query('w3', 'classify', 'SELECT id, body FROM e2e_text WHERE id <= $subt')"
        { settings cpu fp32 "$THREADS"
          [ $ok_w1 = 1 ] && echo "CREATE TEMP TABLE fq_cpu AS SELECT series, step, value FROM $fqs;"
          [ $ok_w3 = 1 ] && echo "CREATE TEMP TABLE sc_cpu AS SELECT key, output FROM $scs;"
          echo "SET seqmodel.device = '$DEV_GPU';"
          [ $ok_w1 = 1 ] && echo "SELECT 'agree e2e_fq $fq_rows ' || (max(abs(a.value - b.value)) / nullif(max(abs(a.value)), 0)) FROM fq_cpu a JOIN $fqs b USING (series, step);"
          [ $ok_w3 = 1 ] && echo "SELECT 'agree e2e_score $SCORE_ROWS ' || max(greatest(abs(a.output[1] - b.output[1]), abs(a.output[2] - b.output[2]))) FROM sc_cpu a JOIN $scs b USING (key);"
        } | q | grep '^agree ' >> "$out" || note "comparing cuda with cpu failed: $(tail -1 "$log")"
    fi

    # ---------------------------------------------------------------- concurrency
    if [ $ok_w3 = 1 ] && [ "$DEV_GPU" != none ] && [ "$CONC" -gt 0 ]; then
        say "SQL: $CONC sessions scoring at once (seqmodel.device = $DEV_GPU)"
        cd_=$work/conc; rm -rf "$cd_"; mkdir -p "$cd_"; chmod a+rwx "$cd_"
        tc=$((THREADS / CONC)); [ $tc -ge 1 ] || tc=1
        smi=0; command -v nvidia-smi >/dev/null && smi=1
        base=; [ $smi = 1 ] && base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
        wpids=()
        for i in $(seq 0 $((CONC - 1))); do
            {
                settings "$DEV_GPU" fp32 "$tc"
                echo "SELECT 'pid ' || pg_backend_pid();"
                echo "SELECT count(*) FROM seqmodel.score_query('w3', 'classify', 'SELECT id, body FROM e2e_text WHERE id <= 64');"
                echo "\\! touch $cd_/ready.$i; k=0; while [ ! -f $cd_/go ] && [ \$k -lt 6000 ]; do sleep 0.02; k=\$((k+1)); done"
                echo "SELECT 'start ' || extract(epoch FROM clock_timestamp());"
                echo "SELECT 'rows ' || count(*) FROM seqmodel.score_query('w3', 'classify', 'SELECT id, body FROM e2e_text WHERE id % $CONC = $i');"
                echo "SELECT 'end ' || extract(epoch FROM clock_timestamp());"
                echo "SELECT 'gpu ' || coalesce(gpu_products, 0) || ' ' || coalesce(gpu_fallbacks, 0) || ' ' || coalesce(gpu_cached_bytes, 0) FROM seqmodel.compute_info();"
                [ $has_devinfo = 1 ] && [ "$i" = 0 ] && echo "SELECT 'devinfo ' || d::text FROM seqmodel.device_info() d;"
                # hold the context and the model until the memory is read
                echo "\\! touch $cd_/done.$i; k=0; while [ ! -f $cd_/release ] && [ \$k -lt 3000 ]; do sleep 0.05; k=\$((k+1)); done"
            } | q > "$cd_/out.$i" &
            wpids+=($!)
        done
        # wait until each worker has FILE (or has ended), at most SECONDS
        wait_all() {
            local file=$1 limit=$2 t0=$SECONDS i n
            while :; do
                n=0
                for i in $(seq 0 $((CONC - 1))); do
                    { [ -f "$cd_/$file.$i" ] || ! kill -0 "${wpids[$i]}" 2>/dev/null; } && n=$((n + 1))
                done
                [ $n = "$CONC" ] && return 0
                [ $((SECONDS - t0)) -ge "$limit" ] && return 1
                sleep 0.05
            done
        }
        wait_all "ready" 120 || note "concurrency: not every session was ready within 120 s"
        ready=$(ls "$cd_"/ready.* 2>/dev/null | wc -l)
        touch "$cd_/go"
        wait_all "done" "$STMT_TIMEOUT" || note "concurrency: not every session finished within $STMT_TIMEOUT s"
        if [ $smi = 1 ]; then
            nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits > "$cd_/apps.txt" 2>&1
            used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1)
        fi
        touch "$cd_/release"
        wait "${wpids[@]}" 2>/dev/null
        # the figures
        rows=0; t_start=; t_end=; done_n=0; bpids=(); per=()
        for i in $(seq 0 $((CONC - 1))); do
            f=$cd_/out.$i
            p=$(sed -n 's/^pid //p' "$f"); s=$(sed -n 's/^start //p' "$f"); e=$(sed -n 's/^end //p' "$f"); n=$(sed -n 's/^rows //p' "$f")
            g=$(sed -n 's/^gpu //p' "$f")
            [ -n "$p" ] && bpids+=("$p")
            if [ -n "$s" ] && [ -n "$e" ] && [ -n "$n" ]; then
                done_n=$((done_n + 1)); rows=$((rows + n))
                t_start=$(awk -v a="${t_start:-$s}" -v b="$s" 'BEGIN { print (b < a ? b : a) }')
                t_end=$(awk -v a="${t_end:-$e}" -v b="$e" 'BEGIN { print (b > a ? b : a) }')
            fi
            [ -n "$g" ] && per+=("$p $(echo "$g" | awk '{ printf "%d/%d/%.1f", $1, $2, $3 / 1048576 }')")
            d=$(sed -n 's/^devinfo //p' "$f"); [ -n "$d" ] && echo "info device_info(): $d" >> "$out"
        done
        [ $done_n = "$CONC" ] || note "concurrency: only $done_n of $CONC sessions finished their share (see $log)"
        if [ $done_n -gt 0 ]; then
            wall=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", 1000 * (b - a) }')
            rps=$(awk -v r="$rows" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? 1000 * r / w : 0) }')
            one=$(grep "^time e2e_score $SCORE_ROWS fp32 $DEV_GPU " "$out" | awk '{ print $6 }' | sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }')
            one_rps=$( [ -n "$one" ] && awk -v r="$SCORE_ROWS" -v w="$one" 'BEGIN { printf "%.0f", 1000 * r / w }')
            echo "conc $done_n sessions (seqmodel.threads $tc each, device $DEV_GPU, W3 classify): $rows rows in $wall ms: $rps rows/s in total${one_rps:+; one session (threads $THREADS): $one_rps rows/s}" >> "$out"
        fi
        [ ${#per[@]} -gt 0 ] && echo "mem compute_info() per backend (pid products/fallbacks/MiB of weights on the GPU): $(IFS=';'; echo "${per[*]}" | sed 's/;/; /g')" >> "$out"
        if [ $smi = 1 ]; then
            matched=0
            for p in "${bpids[@]}"; do
                m=$(awk -F', *' -v p="$p" '$1 == p { print $2 }' "$cd_/apps.txt")
                [ -n "$m" ] && { echo "mem backend $p: $m MiB (nvidia-smi compute-apps)" >> "$out"; matched=$((matched + 1)); }
            done
            [ $matched -gt 0 ] || echo "mem nvidia-smi compute-apps lists no backend pid ($(tr '\n' ';' < "$cd_/apps.txt" | cut -c1-200)); backends: ${bpids[*]}" >> "$out"
            [ -n "$base" ] && [ -n "${used:-}" ] && echo "mem GPU memory used: $base MiB before, $used MiB with $ready sessions holding the model: $(( (used - base) / (ready > 0 ? ready : 1) )) MiB per backend" >> "$out"
        else
            echo "mem n/a: nvidia-smi not found" >> "$out"
        fi
        grep -E '^(conc|mem) ' "$out" | sed 's/^/  /'
    fi
    exit 0
fi

# ================================================================ driver
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
DRY=${DRY:-0}
work=${BENCH_DIR:-/tmp/seqmodel-bench-gpu}
mkdir -p "$work" || exit 1
rm -f "$work"/torch.jsonl "$work"/sql.txt "$work"/sql.log "$work"/sql.stderr "$work"/report.txt "$work"/w[134]_ref.csv
ncpu=$(nproc)
export THREADS=${THREADS:-$((ncpu > 64 ? 64 : ncpu))}
if [ "$DRY" = 1 ]; then
    export W1_BATCHES=${W1_BATCHES:-"64 256"} TFM_BATCHES=${TFM_BATCHES:-"4 8"} E2E_SERIES=${E2E_SERIES:-12} \
           SCORE_ROWS=${SCORE_ROWS:-2000} REPS=${REPS:-2} E2E_REPS=${E2E_REPS:-2} DEV_GPU=cpu
    torch_dev=cpu; torch_warm=${TORCH_WARMUP:-1}; torch_runs=${TORCH_RUNS:-3}; budget=${BENCH_BUDGET:-600}
else
    export W1_BATCHES=${W1_BATCHES:-"4096 65536"} TFM_BATCHES=${TFM_BATCHES:-"64 512"} E2E_SERIES=${E2E_SERIES:-595} \
           SCORE_ROWS=${SCORE_ROWS:-100000} REPS=${REPS:-3} E2E_REPS=${E2E_REPS:-2} DEV_GPU=cuda
    torch_dev=cuda; torch_warm=${TORCH_WARMUP:-2}; torch_runs=${TORCH_RUNS:-7}; budget=${BENCH_BUDGET:-300}
fi
# fp32 first: it is the reference of the other precisions
PRECISIONS=$(echo "fp32 ${PRECISIONS:-fp32 bf16}" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
export PRECISIONS=${PRECISIONS% } CONC=${CONC:-8} STMT_TIMEOUT=${STMT_TIMEOUT:-120}
w1_max=$(printf '%s\n' $W1_BATCHES "$E2E_SERIES" | sort -n | tail -1)
tfm_max=$(printf '%s\n' $TFM_BATCHES | sort -n | tail -1)
torch_to=$((budget / 4)); [ $torch_to -ge 60 ] || torch_to=60
sql_to=$((budget - torch_to - 20)); [ $sql_to -ge 30 ] || sql_to=30
t_begin=$SECONDS

# python with torch: the device machine's python3 has it, Debian's /usr/bin/python3 here
PY=
for c in ${PYTHON:-} /usr/bin/python3 python3; do
    if "$c" -c 'import torch, numpy' 2>/dev/null; then PY=$c; break; fi
done
if [ -z "${PEERS_SRC:-}" ]; then
    for c in "$root/../shared/peers" /work/shared/peers "$root/.gpu/peers"; do
        [ -f "$c/models.py" ] && { PEERS_SRC=$(cd "$c" && pwd); break; }
    done
fi
export PEERS_SRC=${PEERS_SRC:-} PEER_MODEL_DIR=${PEER_MODEL_DIR:-/tmp/peer-models}

say "GPU benchmark$([ "$DRY" = 1 ] && echo " (DRY: small sizes, torch on the CPU, seqmodel.device = cpu)") into $work"
{
    if command -v nvidia-smi >/dev/null; then
        echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
    else
        echo "gpu: none (nvidia-smi not found)"
    fi
    echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $ncpu CPUs; seqmodel.threads $THREADS"
    echo "sizes: W1 series {$W1_BATCHES}, W3/W4 batch {$TFM_BATCHES}, precisions {$PRECISIONS}, e2e $((E2E_SERIES * 168)) series rows and $SCORE_ROWS texts, $CONC concurrent sessions, $REPS/$E2E_REPS timed runs"
} > "$work/machine.txt"
sed 's/^/  /' "$work/machine.txt"

torch_ok=0; sql_ok=0
if [ -z "$PY" ]; then
    echo "!! no python with torch and numpy (tried ${PYTHON:-} /usr/bin/python3 python3): PyTorch part skipped"
elif [ -z "$PEERS_SRC" ]; then
    echo "!! the peers' models.py was not found (set PEERS_SRC): PyTorch part and model files skipped"
else
    say "inputs and models ($PY, peers $PEERS_SRC)"
    if timeout 120 "$PY" -B "$here/gpu_torch.py" prepare "$work" --w1-max "$w1_max" --tfm-max "$tfm_max"; then
        say "PyTorch on $torch_dev (at most $torch_to s)"
        lowprec=(); [ "$DRY" = 1 ] && lowprec=(--lowprec-smallest-only)   # bf16 on a CPU is slow
        PYTHONUNBUFFERED=1 timeout "$torch_to" "$PY" -B "$here/gpu_torch.py" bench "$work" --device "$torch_dev" \
            --precisions "${PRECISIONS// /,}" --w1 "${W1_BATCHES// /,}" --tfm "${TFM_BATCHES// /,}" \
            --warmup "$torch_warm" --runs "$torch_runs" --threads "$THREADS" "${lowprec[@]}" \
            || echo "!! the PyTorch part ended with exit $? (124: its time was up); what it measured is kept"
        grep -q '"median_ms"' "$work/torch.jsonl" 2>/dev/null && torch_ok=1
    else
        echo "!! preparing the inputs and models failed: PyTorch and SQL parts skipped"
        SQL=0
    fi
fi
# the model files for the SQL side (readable by the server's user)
if [ -f "$work/models.json" ]; then
    mfile() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["path"])' "$work/models.json" "$1"; }
    export W1_FILE=$(mfile lstm_forecast) W3_FILE=$(mfile text_encoder) W4_FILE=$(mfile gpt_scorer)
    chmod a+rx "$work" "$work/models" 2>/dev/null; chmod a+r "$work"/* "$work"/models/* 2>/dev/null
    for f in "$W1_FILE" "$W3_FILE" "$W4_FILE"; do chmod a+r "$f" 2>/dev/null; chmod a+rx "$(dirname "$f")" 2>/dev/null; done
fi

left=$((budget - (SECONDS - t_begin) - 15)); [ $left -lt $sql_to ] && sql_to=$left
if [ "${SQL:-1}" != 1 ]; then
    echo "!! SQL part skipped"
elif [ "$sql_to" -lt 30 ]; then
    echo "!! SQL part skipped: only $sql_to s left of BENCH_BUDGET=$budget"
elif [ ! -f "$(pg_config --sharedir 2>/dev/null)/extension/seqmodel.control" ]; then
    echo "!! SQL part skipped: the extension is not installed (make && make install)"
else
    installed=$(pg_config --pkglibdir)/seqmodel.so
    cmp -s "$installed" "$root/seqmodel.so" || echo "  warning: the installed seqmodel.so is not this tree's build (make && make install)"
    if [ -n "${PGHOST:-}" ] && psql -X -Atq -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
        say "SQL in the running cluster (PGHOST=$PGHOST PGPORT=${PGPORT:-}), database seqmodel_gpu_bench, at most $sql_to s"
        psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS seqmodel_gpu_bench' -c 'CREATE DATABASE seqmodel_gpu_bench' \
            && PGDATABASE=seqmodel_gpu_bench timeout "$sql_to" bash "$here/gpu.sh" --sql "$work" \
            || echo "!! the SQL part ended with exit $? (124: its time was up; see $work/sql.log)"
    elif command -v pg_virtualenv >/dev/null; then
        say "SQL in a throwaway cluster (pg_virtualenv), at most $sql_to s"
        timeout "$sql_to" pg_virtualenv -t bash "$here/gpu.sh" --sql "$work" 2>>"$work/sql.stderr" \
            || echo "!! the SQL part ended with exit $? (124: its time was up; see $work/sql.log, $work/sql.stderr)"
    else
        echo "!! SQL part skipped: no running cluster (PGHOST) and no pg_virtualenv"
    fi
    grep -q '^time ' "$work/sql.txt" 2>/dev/null && sql_ok=1
fi

echo
if [ -n "$PY" ]; then
    "$PY" -B "$here/gpu_torch.py" report "$work" --gpu-device "$DEV_GPU" | tee "$work/report.txt"
else
    python3 -B "$here/gpu_torch.py" report "$work" --gpu-device "$DEV_GPU" | tee "$work/report.txt"
fi
echo "(the whole benchmark: $((SECONDS - t_begin)) s; raw figures in $work/torch.jsonl and $work/sql.txt)"
[ $torch_ok = 1 ] && [ $sql_ok = 1 ] && exit 0
echo "!! incomplete: PyTorch figures $([ $torch_ok = 1 ] && echo yes || echo no), seqmodel figures $([ $sql_ok = 1 ] && echo yes || echo no)"
exit 1
