# Sourced by the test/t scripts whose checks are commands (dump_restore.sh,
# state_sessions.sh, gpu_fake.sh): the counters and check.  (The scripts
# with clusters of their own compare values instead: lib/cluster.sh.)
passed=0; failed=0
check() {  # check NAME COMMAND...: the command prints t for success
    local name=$1; shift
    local out; out=$("$@" 2>&1)
    if [ "$out" = "t" ]; then passed=$((passed + 1)); echo "ok - $name"
    else failed=$((failed + 1)); echo "not ok - $name: $out"; fi
}
