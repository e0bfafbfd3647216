#!/usr/bin/env bash
# States kept per series against full re-runs, as the history grows: the
# cost of taking in one new reading per series must stay flat with a state
# (seqmodel.state_update reads only the new rows) and grows with the history
# without one (forecast_query re-reads and re-runs every series' whole past).
# Run from the repository root with the extension installed (make install):
#
#   bash test/bench/state.sh [SERIES] [T ...]     # defaults: 1000 series, T = 168 1000 10000
#   REPS=1 bash test/bench/state.sh 10000 168 1000 10000   # one round (a full re-run of 100 M rows is ~75 s)
#
# It runs itself (--inner) in a throwaway cluster (pg_virtualenv -t).  The
# model: the CO2 LSTM of test/data (scaled input), imported without its context window.  For
# each T: a table of SERIES x T readings (bigint times), a state table
# brought up to date once (state_update over the whole history, timed as
# "build"), then REPS rounds (env, default 3) of one new reading per series
# and, timed server-side, the median over the rounds (the middle value; the
# lower of the two middle ones for an even REPS) of: state_update over the
# new rows only, forecast_from_state (12 steps), and the full re-run a state
# saves: forecast_query over the whole history (12 steps).  The two forecasts
# are compared after the last round (max abs difference).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
if [ "${1:-}" != "--inner" ]; then exec pg_virtualenv -t bash "$0" --inner "$@"; fi
shift
series=${1:-1000}; shift || true
lens=${*:-168 1000 10000}
reps=${REPS:-3}
case $reps in ''|*[!0-9]*|0) echo "REPS must be a positive integer, not '$reps'"; exit 1;; esac
# the median of its arguments: the middle value, the lower middle one for an even count
med() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
grep -m1 "model name" /proc/cpuinfo
q >/dev/null <<SQL || { echo "setup failed"; exit 1; }
\\set cfg \`cat '$root/test/data/co2_lstm.json'\`
CREATE EXTENSION seqmodel;
\\lo_import '$root/test/data/co2_lstm.safetensors'
SELECT seqmodel.import_safetensors('co2', 'lstm', (:'cfg')::jsonb - 'context', lo_get(:LASTOID));  -- a state needs the whole history: no context window
SELECT lo_unlink(:LASTOID);
CREATE FUNCTION ms(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE q; RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END \$\$;
SQL
printf '%-6s %-7s %10s %12s %14s %16s %10s %s\n' T series "build ms" "update ms" "from state ms" "full re-run ms" "re-run/upd" "max |diff|"
for T in $lens; do
    q >/dev/null <<SQL
DROP TABLE IF EXISTS readings, st;
CREATE TABLE readings AS
  SELECT s::text AS series, t::bigint AS time, (330 + 5 * sin(t / 1.9 + s) + t * 0.01)::real AS value
    FROM generate_series(1, $series) s, generate_series(1, $T) t;
CREATE INDEX ON readings (series, time);
CREATE INDEX ON readings (time);  -- the new rows are found without a scan
ANALYZE readings;
SELECT seqmodel.state_create('st', 'bigint');
SQL
    build=$(q -c "SELECT round(ms(\$q\$SELECT * FROM seqmodel.state_update('co2', 'st', 'SELECT series, time, value FROM readings ORDER BY series, time')\$q\$)::numeric, 1)")
    upd=(); fs=(); full=()
    for r in $(seq 1 "$reps"); do
        tn=$((T + r))
        q -c "INSERT INTO readings SELECT s::text, $tn, (330 + 5 * sin($tn / 1.9 + s) + $tn * 0.01)::real FROM generate_series(1, $series) s" >/dev/null
        upd+=("$(q -c "SELECT ms(\$q\$SELECT * FROM seqmodel.state_update('co2', 'st', 'SELECT series, time, value FROM readings WHERE time > $((tn - 1)) ORDER BY series, time')\$q\$)")")
        fs+=("$(q -c "SELECT ms(\$q\$SELECT count(*) FROM seqmodel.forecast_from_state('co2', 'st', 12)\$q\$)")")
        full+=("$(q -c "SELECT ms(\$q\$SELECT count(*) FROM seqmodel.forecast_query('co2', 'SELECT series, value FROM readings ORDER BY series, time', 12)\$q\$)")")
    done
    diff=$(q -c "SELECT max(abs(a.value - b.value)) FROM seqmodel.forecast_from_state('co2', 'st', 12) a
                   JOIN seqmodel.forecast_query('co2', 'SELECT series, value FROM readings ORDER BY series, time', 12) b
                     USING (series, step) WHERE a.quantile IS NULL AND b.quantile IS NULL")
    mu=$(med "${upd[@]}"); mf=$(med "${fs[@]}"); mr=$(med "${full[@]}")
    printf '%-6s %-7s %10s %12.1f %14.1f %16.1f %10.1f %s\n' "$T" "$series" "$build" "$mu" "$mf" "$mr" \
        "$(awk -v a="$mr" -v b="$mu" -v c="$mf" 'BEGIN { print a / (b + c) }')" "$diff"
done
echo "re-run/upd: the full re-run's time over (state_update of the new row + forecast_from_state)"
echo "ms: median of $reps round(s) (the middle value; the lower middle one for an even count)"
