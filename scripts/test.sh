#!/usr/bin/env bash
# Install what the test suite needs, then run the whole suite.
#
#   bash scripts/test.sh [extra pytest args...]
#
# 1. The Debian redis-server/redis-tools (the reference every compatibility test
#    compares against, Redis 7.0.15 on Debian 12) and tcl, when missing.
#    Non-interactive: works under CI=true with no stdin. Needs root (or sudo).
# 2. `pip install -e '.[test]'` (aki itself plus the test extra).
# 3. `python -m pytest` over tests/, with a per-test timeout. Exit status is
#    pytest's, except that "no tests collected" (5) also counts as failure.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
{ command -v redis-cli && command -v redis-check-aof && command -v redis-benchmark; } >/dev/null 2>&1 || missing+=(redis-tools)
command -v tclsh >/dev/null 2>&1 || missing+=(tcl)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${missing[*]} and no apt-get: install them by hand (Redis 7.0.x)"
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q </dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    # The Debian package starts a redis-server on 6379 where systemd exists; the
    # tests start their own on free ports, so that one is harmless.
fi
log "redis-server: $(redis-server --version)"

PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
log "installing aki with the test extra"
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]' </dev/null

# Parallelism: with pytest-xdist installed, AKI_TEST_JOBS workers (default 2, the
# machine's cores); without it, or with AKI_TEST_JOBS=1, one process. Every test
# starts its own servers on free ports, so workers do not collide.
args=(-q -p no:cacheprovider --timeout="${AKI_TEST_TIMEOUT:-300}")
jobs="${AKI_TEST_JOBS:-2}"
if "$PYTHON" -c 'import xdist' >/dev/null 2>&1; then
    if [ "$jobs" -gt 1 ]; then
        args+=(-n "$jobs" --dist loadfile)
    else
        args+=(-p no:xdist)
    fi
fi

log "running: $PYTHON -m pytest ${args[*]} $*"
set +e
"$PYTHON" -m pytest "${args[@]}" "$@" </dev/null
status=$?
set -e
if [ "$status" -eq 5 ]; then
    log "pytest collected no tests: counting that as a failure"
    exit 1
fi
exit "$status"
