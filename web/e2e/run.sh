#!/usr/bin/env bash
# The end-to-end tests against the system started as `make run` starts it: free ports, a fresh
# data dir, the real services. Builds the web page first (make web). Screenshots and metrics go
# to test-artifacts/e2e/. Exit code: the tests'.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=.venv/bin/python
data_dir=$(mktemp -d /tmp/stocksim-e2e-XXXXXX)
chmod 755 "$data_dir"  # PostgreSQL runs as an unprivileged user when this runs as root
out="$data_dir/make-run.out"
artifacts=${ARTIFACTS:-$PWD/test-artifacts/e2e}
rm -rf "$artifacts" && mkdir -p "$artifacts"
free_port() { "$PY" -c 'from devstack.servers import free_port; print(free_port())'; }

export STOCKSIM_DATA_DIR=$data_dir
for name in USER_PORT TRADING_PORT STOCK_PORT STOCKSIM_PG_PORT STOCKSIM_REDIS_PORT \
    STOCKSIM_KAFKA_PORT STOCKSIM_KAFKA_CONTROLLER_PORT; do
    export "$name=$(free_port)"
done
unset DATABASE_URL REDIS_URL KAFKA_BOOTSTRAP_SERVERS TRADING_USER_SERVICE_URL TRADING_JWKS_URL

make_pid=
e2e_out=
cleanup() {
    local rc=$?
    if [[ -n $make_pid ]] && kill -0 "$make_pid" 2>/dev/null; then
        supervisor=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["supervisor"])' \
            "$data_dir/run.json" 2>/dev/null || true)
        [[ -n $supervisor ]] && kill -TERM "$supervisor" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$make_pid" 2>/dev/null || break; sleep 0.5; done
        kill -TERM "$make_pid" 2>/dev/null || true
        wait "$make_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 ]]; then
        echo "--- make run output"; cat "$out" 2>/dev/null || true
        for log in "$data_dir"/logs/*.log; do
            [[ -e $log ]] || continue
            echo "--- last lines of $log"; tail -n 30 "$log"
        done
    fi
    cp "$data_dir"/logs/*.log "$artifacts/" 2>/dev/null || true
    # Last, so that a CI log's tail names the step that failed and why.
    if [[ $rc -ne 0 && -n $e2e_out && -e $e2e_out ]]; then
        echo "--- $e2e_out (the failed run)"; tail -n 40 "$e2e_out"
    fi
    rm -rf "$data_dir"
    exit $rc
}
trap cleanup EXIT

make web
started=$SECONDS
make run >"$out" 2>&1 &
make_pid=$!
until grep -q "stocksim is running" "$out"; do
    kill -0 "$make_pid" 2>/dev/null || { echo "make run exited before it was ready"; exit 1; }
    ((SECONDS - started < 240)) || { echo "make run not ready after 240 s"; exit 1; }
    sleep 0.5
done
echo "make run ready in $((SECONDS - started)) s on trading port $TRADING_PORT"
# The stock service's first ticks take a moment to reach the price cache.
for _ in $(seq 60); do
    [[ $(curl -s "http://127.0.0.1:$TRADING_PORT/market-watch") == '[{'* ]] && break
    sleep 0.5
done

cd web
# E2E_TESTS="market" runs only web/e2e/market.e2e.mjs (market, portfolio and sign-up screens).
for name in ${E2E_TESTS:-trade market}; do
    e2e_out="$artifacts/$name.out"
    STOCKSIM_URL="http://127.0.0.1:$TRADING_PORT" ARTIFACTS="$artifacts" node "e2e/$name.e2e.mjs" \
        2>&1 | tee "$e2e_out"
done
