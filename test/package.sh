#!/usr/bin/env bash
# The Debian package, built and tried as users install it: dpkg-buildpackage
# -us -uc -b on a clean copy of this tree (debian/, pg_buildext with
# pgxs_loop; the build runs the regression suite itself), then the .deb
# installed with dpkg -i and the regression suite run again against the
# installed package in a throwaway cluster.  As root on Debian 12; installs
# the packaging tools it lacks (apt).  Ends with "N passed, N failed".
#
#   bash test/package.sh          (CI runs it after the test command)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0; failed=0
check() { if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok - $1"; else failed=$((failed + 1)); echo "not ok - $1"; fi; }
need=(debhelper postgresql-server-dev-all dpkg-dev fakeroot)
missing=()
for p in "${need[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
work=$(mktemp -d /tmp/seqmodel-package.XXXXXX)
chmod 755 "$work"
# the tracked files only: what a source package holds
git -C "$root" archive --format=tar --prefix=seqmodel/ HEAD | tar -x -C "$work"
chmod -R a+rX "$work"
(cd "$work/seqmodel" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1
check "dpkg-buildpackage -us -uc -b builds postgresql-15-seqmodel (its own installcheck included)" \
    "$([ -f "$work"/postgresql-15-seqmodel_*_amd64.deb ] && echo 0 || echo 1)"
if [ -f "$work"/postgresql-15-seqmodel_*_amd64.deb ]; then
    dpkg -i "$work"/postgresql-15-seqmodel_*_amd64.deb > "$work/install.log" 2>&1
    check "dpkg -i installs it" $?
    check "the package holds the library, control file and scripts" \
        "$(dpkg -L postgresql-15-seqmodel | grep -cE 'lib/seqmodel\.so$|extension/seqmodel\.control$|seqmodel--0\.1\.0\.sql$' | grep -qx 3 && echo 0 || echo 1)"
    (cd "$work/seqmodel" && pg_virtualenv make installcheck) > "$work/installcheck.log" 2>&1
    check "installcheck against the installed package, in a fresh cluster" $?
    grep -E 'tests passed|failed' "$work/installcheck.log" | tail -2
fi
[ "$failed" -eq 0 ] || { echo "== logs in $work"; tail -30 "$work/build.log"; tail -30 "$work/installcheck.log" 2>/dev/null; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && rm -rf "$work"
[ "$failed" -eq 0 ]
