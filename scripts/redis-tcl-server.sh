#!/usr/bin/env bash
# Run Redis's own TCL test units against aki in the suite's *server* mode: the suite
# starts its own servers (from config files, with `overrides`, restarts, aclfiles ...)
# and aki stands in for src/redis-server. Units whose tests are all tagged
# external:skip (unit/acl, unit/acl-v2) only run this way; scripts/redis-tcl.sh runs
# against one external aki and skips them.
#
#   bash scripts/redis-tcl-server.sh unit/acl unit/acl-v2
#
# The Redis tree (REDIS_SRC, default /work/redis-tests, see scripts/redis-tcl.sh) is
# copied to a temporary directory first: the suite writes into tests/tmp, and
# src/redis-server there becomes a wrapper that runs `python -m aki server` with the
# config file the suite wrote (the database file goes into that config's `dir`).
# Environment: REDIS_SRC, AKI_TCL_ARGS (extra runtest arguments), AKI_TCL_TIMEOUT.
# Exit status: runtest's.
set -uo pipefail

REDIS_SRC="${REDIS_SRC:-/work/redis-tests}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
TIMEOUT="${AKI_TCL_TIMEOUT:-900}"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 unit/NAME [unit/NAME ...]" >&2
    exit 2
fi
command -v tclsh >/dev/null 2>&1 || { echo "tclsh not found (apt-get install tcl)" >&2; exit 2; }

tree="$(mktemp -d -t aki-tcl-tree.XXXXXX)"
trap 'rm -rf "$tree"' EXIT
cp -r "$REDIS_SRC/." "$tree/"
rm -rf "$tree/tests/tmp"
mkdir -p "$tree/src" "$tree/tests/tmp"
cat >"$tree/src/redis-server" <<EOF
#!/usr/bin/env bash
# aki standing in for redis-server: "redis-server CONFFILE [--opt val ...]" or options only.
if [ "\${1:0:2}" = "--" ] || [ "\$#" -eq 0 ]; then
    work="\$(mktemp -d)"
    exec "$PYTHON" -m aki server --dbfile "\$work/data.aki" "\$@"
fi
conf="\$(readlink -f "\$1")"; shift
dir=\$(awk '\$1=="dir"{print \$2}' "\$conf" | tail -1)
dir="\$(cd "\${dir:-.}" && pwd)"
# the suite waits for " PID: n" in the log: aki prints it (always-show-logo yes, set by
# every config of the suite) once it listens
exec "$PYTHON" -m aki server "\$conf" --dbfile "\$dir/data.aki" "\$@"
EOF
chmod +x "$tree/src/redis-server"
# tests that drive Redis's tools (rediscli_exec, redis-benchmark, redis-check-aof on the
# AOF files a test wrote) use src/<tool>: the installed ones (Debian redis-tools/-server)
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    if command -v "$tool" >/dev/null 2>&1; then
        ln -sf "$(command -v "$tool")" "$tree/src/$tool"
    fi
done

args=()
for unit in "$@"; do
    unit="${unit%.tcl}"
    case "$unit" in unit/*|integration/*) ;; *) unit="unit/$unit" ;; esac
    args+=(--single "$unit")
done
# shellcheck disable=SC2086
(cd "$tree" && timeout --kill-after=10 "$TIMEOUT" ./runtest "${args[@]}" --clients 1 \
    --tags -needs:debug ${AKI_TCL_ARGS:-}) </dev/null 2>&1 | tee "$tree/runtest.log"
rc=${PIPESTATUS[0]}
clean="$(sed 's/\x1b\[[0-9;]*m//g' "$tree/runtest.log")"
echo "== passed $(grep -c '^\[ok\]:' <<<"$clean"), failed $(grep -c '^\[err\]:' <<<"$clean"),"\
" exceptions $(grep -c '^\[exception\]:' <<<"$clean") (runtest exit $rc)"
exit "$rc"
