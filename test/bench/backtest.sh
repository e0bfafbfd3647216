#!/usr/bin/env bash
# Rolling-origin backtests against one forecast_query per origin: the same
# forecasts, from one read of the query's rows (seqmodel.backtest cuts each
# series' history at every origin in memory) instead of K reads and K calls.
# Run from the repository root with the extension installed (make install):
#
#   bash test/bench/backtest.sh [SERIES] [T]      # defaults: 10000 series of T = 168 steps
#
# Knobs (environment): ORIGINS, the origin counts K to run (default "1 10");
# STRIDE, the steps between origins (default the horizon, 12); REPS, the
# rounds whose median is quoted (default 3; the middle value, the lower
# middle one for an even REPS); CLUSTERED=1 rewrites the table in (series,
# time) order (CLUSTER) before timing.
#
# It runs itself (--inner) in a throwaway cluster (pg_virtualenv -t).  The
# model: the CO2 LSTM of test/data (scaled input), imported as it is, with its
# context window (120 steps): backtest applies it to each origin's history as
# forecast_query applies it to the rows up to that origin, so the two must
# still agree, and the window is part of what is compared.  The readings: the
# synthetic values of state.sh, SERIES x T rows (bigint times 1 ... T), laid
# out as state.sh's are, time-major (every series' reading at time 1, then at
# 2, ...: the order readings arrive in), so reading a series in time order
# through the (series, time) index visits a heap page per row.  For
# each K, REPS rounds alternating which goes first, timed server-side:
# backtest(model, query, 12, origins => K, stride => STRIDE) over all rows in
# one session, and in another the K calls forecast_query(model, 'SELECT
# series, value FROM readings WHERE time <= cutoff ORDER BY series, time', 12)
# with cutoff = T - 12 - (K - o) * STRIDE for origin o = 1 ... K (README,
# "Backtests"), summed.  Then, untimed, the two are joined on series, origin
# and step: max abs difference of the forecasts, and a check that every
# (series, origin, step) is there once on both sides with the expected cutoff.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
if [ "${1:-}" != "--inner" ]; then exec pg_virtualenv -t bash "$0" --inner "$@"; fi
shift
series=${1:-10000}
T=${2:-168}
h=12
stride=${STRIDE:-$h}
reps=${REPS:-3}
clustered=${CLUSTERED:-0}
origins=${ORIGINS:-1 10}
for v in "$series" "$T" "$stride" "$reps" $origins; do
    case $v in ''|*[!0-9]*|0) echo "SERIES, T, STRIDE, REPS and ORIGINS must be positive integers, not '$v'"; exit 1;; esac
done
# the median of its arguments: the middle value, the lower middle one for an even count
med() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
grep -m1 "model name" /proc/cpuinfo
q >/dev/null <<SQL || { echo "setup failed"; exit 1; }
\\set cfg \`cat '$root/test/data/co2_lstm.json'\`
CREATE EXTENSION seqmodel;
\\lo_import '$root/test/data/co2_lstm.safetensors'
SELECT seqmodel.import_safetensors('co2', 'lstm', (:'cfg')::jsonb, lo_get(:LASTOID));  -- as trained: context 120
SELECT lo_unlink(:LASTOID);
CREATE FUNCTION ms(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE q; RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
CREATE TABLE readings AS
  SELECT s::text AS series, t::bigint AS time, (330 + 5 * sin(t / 1.9 + s) + t * 0.01)::real AS value
    FROM generate_series(1, $series) s, generate_series(1, $T) t;
CREATE INDEX readings_series_time ON readings (series, time);
$([ "$clustered" = 1 ] && echo "CLUSTER readings USING readings_series_time;")
ANALYZE readings;
SQL
[ "$clustered" = 1 ] && echo "table clustered on (series, time)"
all="SELECT series, value FROM readings ORDER BY series, time"
upto() { echo "SELECT series, value FROM readings WHERE time <= $1 ORDER BY series, time"; }
# one round of the K forecast_query calls (K from the loop below), each timed, in one session: their sum
fq_round() {
    local o sql=""
    for o in $(seq 1 "$K"); do
        sql+="SELECT ms(\$q\$SELECT count(*) FROM seqmodel.forecast_query('co2', '$(upto $((T - h - (K - o) * stride)))', $h)\$q\$);"$'\n'
    done
    q <<<"$sql" | awk '{ s += $1 } END { print s }'
}
# one round of backtest, in its own session
bt_round() {
    q -c "SELECT ms(\$q\$SELECT count(*) FROM seqmodel.backtest('co2', '$all', $h, origins => $K, stride => $stride)\$q\$)"
}
printf '%-4s %-7s %-6s %12s %16s %8s %14s %14s %14s %s\n' K series T "backtest ms" "K x fq ms" "fq/bt" "bt fc/s" "fq fc/s" "bt rows/s" "max |diff|"
for K in $origins; do
    if [ $((T - h - (K - 1) * stride)) -lt 1 ]; then
        echo "K = $K: T = $T is too short for $K origins $stride steps apart with horizon $h"; continue
    fi
    bt=(); fq=()
    for r in $(seq 1 "$reps"); do
        if [ $((r % 2)) -eq 1 ]; then bt+=("$(bt_round)"); fq+=("$(fq_round)")
        else fq+=("$(fq_round)"); bt+=("$(bt_round)"); fi
    done
    # untimed: the same forecasts on both sides, every (series, origin, step) once, the cutoffs as documented
    check=$(q -F ' ' <<SQL
WITH b AS (SELECT r.series, r.origin, r.cutoff, u.step, u.f
             FROM seqmodel.backtest('co2', '$all', $h, origins => $K, stride => $stride) r,
                  unnest(r.forecast) WITH ORDINALITY u(f, step)
            WHERE r.feature = 1),
     f AS (SELECT o AS origin, r.series, r.step, r.value
             FROM generate_series(1, $K) o,
                  seqmodel.forecast_query('co2', format('SELECT series, value FROM readings WHERE time <= %s ORDER BY series, time',
                                                        $T - $h - ($K - o) * $stride), $h) r
            WHERE r.quantile IS NULL)
SELECT max(abs(b.f - f.value)),
       (SELECT count(*) FROM b) = $series::bigint * $K * $h
         AND (SELECT count(*) FROM f) = $series::bigint * $K * $h
         AND count(*) = $series::bigint * $K * $h
         AND bool_and(b.cutoff = $T - $h - ($K - b.origin) * $stride)
  FROM b JOIN f USING (series, origin, step)
SQL
)
    diff=${check% *}; ok=${check#* }
    mb=$(med "${bt[@]}"); mf=$(med "${fq[@]}")
    printf '%-4s %-7s %-6s %12.1f %16.1f %8.2f %14.0f %14.0f %14.0f %s%s\n' "$K" "$series" "$T" "$mb" "$mf" \
        "$(awk -v a="$mf" -v b="$mb" 'BEGIN { print a / b }')" \
        "$(awk -v n="$series" -v k="$K" -v t="$mb" 'BEGIN { print n * k / (t / 1000) }')" \
        "$(awk -v n="$series" -v k="$K" -v t="$mf" 'BEGIN { print n * k / (t / 1000) }')" \
        "$(awk -v n="$series" -v T="$T" -v t="$mb" 'BEGIN { print n * T / (t / 1000) }')" \
        "$diff" "$([ "$ok" = t ] || echo "  CHECK FAILED: rows missing, doubled or cut elsewhere")"
done
echo "fq/bt: the K forecast_query calls' summed time over backtest's; fc/s: series x origins forecast per second;"
echo "bt rows/s: history rows backtest reads per second (SERIES x T); stride $stride, horizon $h"
echo "ms: median of $reps round(s) (the middle value; the lower middle one for an even count), rounds alternating which goes first"
