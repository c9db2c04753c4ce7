#!/usr/bin/env bash
# Run Redis's own TCL test units against aki, in external-server mode.
#
#   bash scripts/redis-tcl.sh unit/type/string unit/keyspace ...
#
# For each unit: start aki on a free port with a fresh temporary --dbfile, run
#   ./runtest --host 127.0.0.1 --port P --single UNIT --clients 1 --durable --tags -needs:debug
# in the Redis tree, stop aki, and print the unit's passed/failed counts.
#
# The tree is Redis's source (tests/, runtest, utils/) from the Redis 7.0.15 source
# tarball, which aki does not ship or commit:
#   curl -LO https://download.redis.io/releases/redis-7.0.15.tar.gz
#   tar xzf redis-7.0.15.tar.gz && export REDIS_SRC=$PWD/redis-7.0.15
# REDIS_SRC defaults to /work/redis-tests. Needs tclsh 8.5+ (Debian: tcl).
# Environment: REDIS_SRC, AKI_TCL_TIMEOUT (seconds per unit, default 900),
# AKI_TCL_ARGS (extra runtest arguments), AKI_SERVER_ARGS (extra aki server flags),
# AKI_TCL_KEEP=1 keeps the per-unit logs and files, AKI_TCL_DEBUG=1 runs the
# needs:debug tests too (aki has most DEBUG subcommands the suite uses).
# Exit status: 0 when every unit passed, 1 otherwise.
set -uo pipefail

REDIS_SRC="${REDIS_SRC:-/work/redis-tests}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
TIMEOUT="${AKI_TCL_TIMEOUT:-900}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 unit/NAME [unit/NAME ...]   (e.g. unit/type/string)" >&2
    exit 2
fi
if [ ! -x "$REDIS_SRC/runtest" ] && [ ! -f "$REDIS_SRC/runtest" ]; then
    echo "no Redis source tree at REDIS_SRC=$REDIS_SRC (see the header of $0)" >&2
    exit 2
fi
command -v tclsh >/dev/null 2>&1 || { echo "tclsh not found (apt-get install tcl)" >&2; exit 2; }

debug_tags="--tags -needs:debug"
[ "${AKI_TCL_DEBUG:-0}" = 1 ] && debug_tags=""

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # port pid
    for _ in $(seq 1 300); do
        if ! kill -0 "$2" 2>/dev/null; then return 1; fi
        if "$PYTHON" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

overall=0
summary=()
for unit in "$@"; do
    unit="${unit%.tcl}"
    case "$unit" in unit/*|integration/*) ;; *) unit="unit/$unit" ;; esac
    work="$(mktemp -d -t aki-tcl.XXXXXX)"
    port="$(free_port)"
    # shellcheck disable=SC2086
    "$PYTHON" -m aki server --port "$port" --dbfile "$work/data.aki" --dir "$work" \
        --enable-debug-command yes --enable-module-command yes ${AKI_SERVER_ARGS:-} \
        >"$work/aki.log" 2>&1 &
    aki_pid=$!
    if ! wait_port "$port" "$aki_pid"; then
        echo "== $unit: aki did not start; log:" >&2
        cat "$work/aki.log" >&2
        kill "$aki_pid" 2>/dev/null
        overall=1
        summary+=("$unit: aki failed to start")
        continue
    fi
    echo "== $unit (aki pid $aki_pid on port $port, file $work/data.aki)"
    # shellcheck disable=SC2086
    (cd "$REDIS_SRC" && timeout --kill-after=10 "$TIMEOUT" ./runtest --host 127.0.0.1 --port "$port" \
        --single "$unit" --clients 1 --durable $debug_tags ${AKI_TCL_ARGS:-}) \
        </dev/null 2>&1 | tee "$work/runtest.log"
    rc=${PIPESTATUS[0]}
    kill -TERM "$aki_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$aki_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$aki_pid" 2>/dev/null
    wait "$aki_pid" 2>/dev/null
    # runtest colours its tags; strip ANSI codes before counting.
    clean="$(sed 's/\x1b\[[0-9;]*m//g' "$work/runtest.log")"
    passed=$(grep -c '^\[ok\]:' <<<"$clean")
    failed=$(grep -c '^\[err\]:' <<<"$clean")
    errors=$(grep -c '^\[exception\]:' <<<"$clean")
    skipped=$(grep -c '^\[skip\]:' <<<"$clean")
    line="$unit: passed $passed, failed $failed, exceptions $errors, skipped $skipped (runtest exit $rc)"
    [ "$rc" -eq 124 ] && line="$line TIMED OUT after ${TIMEOUT}s"
    echo "== $line"
    summary+=("$line")
    if [ "$failed" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$rc" -ne 0 ] || [ "$passed" -eq 0 ]; then
        overall=1
    fi
    if [ "${AKI_TCL_KEEP:-0}" = 1 ]; then
        echo "   logs kept in $work"
    else
        rm -rf "$work"
    fi
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$overall"
