#!/usr/bin/env bash
# States kept per series from two sessions at once (src/pg/state.c): an
# update of one series does not wait for an open update of another; two
# updates of the same series run one after the other, the second seeing
# the first's state; a new series created by a concurrent transaction is a
# serialization failure (40001), not a lost update.  Waits are observed in
# pg_stat_activity, not timed.  Run inside a cluster (test/regress.sh);
# prints one line per check and a closing "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
fix=$(pwd)/test/fixtures/rnn
db=sm_state_sessions
. test/t/lib/check_cmd.sh    # passed, failed, check NAME COMMAND...
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db "$@"; }
tmp=$(mktemp -d /tmp/seqmodel-state-t.XXXXXX)
cleanup() { exec 3>&- 2>/dev/null; kill "$a_pid" 2>/dev/null; wait 2>/dev/null; dropdb --if-exists $db >/dev/null 2>&1; rm -rf "$tmp"; }
a_pid=
trap cleanup EXIT

dropdb --if-exists $db >/dev/null 2>&1
createdb $db || { echo "0 passed, 1 failed"; exit 1; }
q <<SQL >/dev/null
CREATE EXTENSION seqmodel;
\lo_import $fix/lstm_l1_uni_head.safetensors
SELECT seqmodel.import_safetensors('m', 'lstm', '{"input_size": 1, "hidden_size": 5, "output_size": 1}', lo_get(:LASTOID));
SELECT lo_unlink(:LASTOID);
CREATE TABLE r (s text, t bigint, v real);
INSERT INTO r SELECT s, g, sin(g + ascii(s)) FROM unnest('{a,b,n}'::text[]) s, generate_series(1, 10) g;
SELECT seqmodel.state_create('st', 'bigint');
SQL
upd() {  # upd SERIES MAX_T: the update statement for one series' rows up to MAX_T
    echo "SELECT new_rows || '|' || skipped_rows FROM seqmodel.state_update('m', 'st', 'SELECT s, t, v FROM r WHERE s = ''$1'' AND t <= $2 ORDER BY 1, 2');"
}

# session A: a psql fed through a fifo, so its transaction stays open between steps
. test/t/lib/session_a.sh    # a_start, a, a_wait
a_start sm_a $db
b_waits() {  # until session B waits for a lock
    for _ in $(seq 1 600); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sm_b' AND wait_event_type = 'Lock'")" = 1 ] && return 0
        sleep 0.05
    done
    echo "session B never waited for a lock"; return 1
}

# 1. different series: B's update of b does not wait for A's open update of a
a "BEGIN;"; a "$(upd a 5)"; a '\echo A1'
a_wait A1
check "A's open update of series a consumed 5 rows" bash -c "grep -qx '5|0' '$tmp/a_out' && echo t || cat '$tmp/a_out'"
check "B updates series b while A's transaction is open, without waiting" \
    bash -c "PGAPPNAME=sm_b psql -X -q -At -d $db -c \"SET lock_timeout = '5s'\" -c \"$(upd b 5)\""' | grep -qx "5|0" && echo t'
a "COMMIT;"; a '\echo A2'
a_wait A2

# 2. the same series: B waits for A, then consumes only the rows after A's
a "BEGIN;"; a "$(upd a 8)"; a '\echo A3'
a_wait A3
PGAPPNAME=sm_b psql -X -q -At -d $db -c "$(upd a 10)" > "$tmp/b_out" 2>&1 &
b_pid=$!
check "B's update of series a waits for A's" bash -c "$(declare -f q b_waits); db=$db; b_waits && echo t"
a "COMMIT;"; a '\echo A4'
a_wait A4
wait $b_pid
check "then B consumes the 2 rows after A's state and skips A's 8" bash -c "grep -qx '2|8' '$tmp/b_out' && echo t || cat '$tmp/b_out'"
check "series a's state equals one over its whole history" q -c "
    SELECT max(abs(f.value - g.value)) < 1e-5 AND count(*) = 3
      FROM seqmodel.forecast_from_state('m', 'st', 3, '{a}') f
      JOIN seqmodel.forecast_query('m', 'SELECT s, v FROM r WHERE s = ''a'' ORDER BY t', 3) g USING (series, step)"

# 3. a new series created by a concurrent transaction: 40001, nothing overwritten
a "BEGIN;"; a "$(upd n 4)"; a '\echo A5'
a_wait A5
PGAPPNAME=sm_b psql -X -q -At -d $db -c "$(upd n 10)" -c '\echo :LAST_ERROR_SQLSTATE' > "$tmp/b_out" 2>&1 &
b_pid=$!
check "B's update of new series n waits for A's" bash -c "$(declare -f q b_waits); db=$db; b_waits && echo t"
a "COMMIT;"; a '\echo A6'
a_wait A6
wait $b_pid
check "then B fails with 40001 naming the series" bash -c "grep -q 'could not update the state of series \"n\"' '$tmp/b_out' && grep -qx 40001 '$tmp/b_out' && echo t || cat '$tmp/b_out'"
check "and A's state of n stands" q -c "SELECT steps = 4 AND last_time = 4 FROM st WHERE series = 'n'"

a '\q'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
