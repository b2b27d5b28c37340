#!/usr/bin/env bash
# `make run` on a fresh data dir and free ports, the curl walkthrough (scripts/smoke.sh) against
# it, then SIGTERM to the supervisor: it must exit 0 and leave no process of its own behind.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
data_dir=$(mktemp -d /tmp/stocksim-smoke-XXXXXX)
chmod 755 "$data_dir"  # PostgreSQL runs as an unprivileged user when this runs as root
out="$data_dir/make-run.out"
free_port() { "$PY" -c 'from devstack.servers import free_port; print(free_port())'; }

export STOCKSIM_DATA_DIR=$data_dir
for name in USER_PORT TRADING_PORT STOCK_PORT STOCKSIM_PG_PORT STOCKSIM_REDIS_PORT \
    STOCKSIM_KAFKA_PORT STOCKSIM_KAFKA_CONTROLLER_PORT; do
    port=$(free_port)
    export "$name=$port"
done
unset DATABASE_URL REDIS_URL KAFKA_BOOTSTRAP_SERVERS

# Every process under `pid` (children first found by walking /proc's parent links).
descendants() {
    "$PY" - "$1" <<'EOF'
import os, sys
parents = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            pass
found, todo = [], [int(sys.argv[1])]
while todo:
    pid = todo.pop()
    kids = [p for p, parent in parents.items() if parent == pid]
    found += kids
    todo += kids
print(" ".join(map(str, found)))
EOF
}

make_pid=
cleanup() {
    local rc=$?
    if [[ -n $make_pid ]] && kill -0 "$make_pid" 2>/dev/null; then
        for pid in $(descendants "$make_pid"); do kill -KILL "$pid" 2>/dev/null || true; done
        kill -KILL "$make_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 ]]; then
        echo "--- make run output"
        cat "$out" 2>/dev/null || true
        for log in "$data_dir"/logs/*.log; do
            [[ -e $log ]] || continue
            echo "--- last lines of $log"
            tail -n 40 "$log"
        done
    fi
    rm -rf "$data_dir"
    exit $rc
}
trap cleanup EXIT

started=$(date +%s.%N)
make run >"$out" 2>&1 &
make_pid=$!
echo "make run (pid $make_pid), data dir $data_dir"
until grep -q "stocksim is running" "$out"; do
    kill -0 "$make_pid" 2>/dev/null || { echo "make run exited before it was ready"; exit 1; }
    if (($(date +%s) - ${started%.*} > 240)); then
        echo "make run not ready after 240 s"
        exit 1
    fi
    sleep 0.5
done
echo "ready in $("$PY" -c "import time; print(f'{time.time() - $started:.1f}')") s"
cat "$out"

scripts/smoke.sh

supervisor=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["supervisor"])' \
    "$data_dir/run.json")
tree="$(descendants "$make_pid")"
echo "--- SIGTERM to the supervisor (pid $supervisor); its processes: $tree"
kill -TERM "$supervisor"
rc=0
wait "$make_pid" || rc=$?
make_pid=
[[ $rc -eq 0 ]] || { echo "make run exited with $rc after SIGTERM, expected 0"; exit 1; }
survivors=""
for pid in $tree; do
    [[ -e /proc/$pid ]] && survivors+=" $pid($(cat "/proc/$pid/comm" 2>/dev/null))"
done
[[ -z $survivors ]] || { echo "processes survived the stop:$survivors"; exit 1; }
echo "make run stopped cleanly: exit 0, none of its $(wc -w <<<"$tree") processes left"
