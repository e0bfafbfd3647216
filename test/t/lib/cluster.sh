# Sourced by the test/t scripts that start clusters of their own
# (replica.sh, shards.sh, shared_cache.sh): the check counter, running a
# command as postgres, a temporary directory the servers may use, and the
# way out when setting up fails.  (test/regress.sh runs test/t/*.sh only,
# not this folder.)
passed=0; failed=0
check() {  # check NAME EXPECTED ACTUAL (an empty answer never passes)
    if [ -n "$2" ] && [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "ok - $1"
    else failed=$((failed + 1)); echo "not ok - $1: expected [$2], got [$3]"; fi
}
bin=$(pg_config --bindir)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# t_tmpdir NAME: a new directory under /tmp that postgres may write
t_tmpdir() {
    local d
    d=$(mktemp -d "/tmp/seqmodel-$1.XXXXXX")
    chmod 755 "$d"
    [ "$(id -u)" -eq 0 ] && chown postgres "$d"
    echo "$d"
}
# fail_all WHAT: setup failed; show the servers' logs in $dir, count it, stop
fail_all() { echo "not ok - $1"; tail -20 "$dir"/*.log 2>/dev/null; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
