#!/usr/bin/env bash
# Install aki and start the server (defaults: ./data.aki on 127.0.0.1:6379; --bind "* -::*"
# listens on every interface, with protected mode as in Redis).
#
#   bash scripts/run.sh [aki.conf] [--port 6380] [--dbfile other.aki] [--name value ...]
#
# Every argument goes to `aki server`; any redis.conf directive works as --name value.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
"$PYTHON" -m pip install -q --disable-pip-version-check -e "$here" </dev/null
exec "$PYTHON" -m aki server "$@"
