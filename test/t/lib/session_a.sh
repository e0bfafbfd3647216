# Sourced by the test/t scripts that keep one psql session open between
# steps (state_sessions.sh, gpu_fake.sh): session A, fed through a fifo in
# $tmp, so its transaction or its GPU stays held while other sessions act;
# its output collects in $tmp/a_out.  The caller's cleanup closes fd 3 and
# kills $a_pid.
a_start() {  # a_start APPNAME DB
    mkfifo "$tmp/a_in"
    PGAPPNAME=$1 psql -X -q -At -d "$2" < "$tmp/a_in" > "$tmp/a_out" 2>&1 &
    a_pid=$!
    exec 3>"$tmp/a_in"
}
a() { echo "$1" >&3; }
a_wait() {  # until A printed the marker
    for _ in $(seq 1 600); do grep -q "^$1\$" "$tmp/a_out" && return 0; sleep 0.05; done
    echo "session A did not reach $1: $(cat "$tmp/a_out")"; return 1
}
