#!/usr/bin/env bash
# The README's walkthrough with curl, against a running exchange (`make run`): register, log in,
# wait for prices, buy 10 AAPL, sell 5, and check the portfolio holds 5. Fails loudly on any
# mismatch. USER_PORT / TRADING_PORT (or USER_URL / TRADING_URL) say where the services are.
set -euo pipefail

USER_URL=${USER_URL:-http://127.0.0.1:${USER_PORT:-8001}}
TRADING_URL=${TRADING_URL:-http://127.0.0.1:${TRADING_PORT:-8002}}
PY=${PYTHON:-python3}
body=$(mktemp)
trap 'rm -f "$body"' EXIT

fail() {
    echo "SMOKE FAILED: $*" >&2
    exit 1
}

# request EXPECTED_STATUS METHOD URL [JSON] [TOKEN]: prints the response body.
request() {
    local expected=$1 method=$2 url=$3 data=${4:-} token=${5:-}
    local args=(-sS -o "$body" -w '%{http_code}' -X "$method" --max-time 30)
    [[ -n $data ]] && args+=(-H 'Content-Type: application/json' -d "$data")
    [[ -n $token ]] && args+=(-H "Authorization: Bearer $token")
    local status
    status=$(curl "${args[@]}" "$url") || fail "$method $url: no answer"
    [[ $status == "$expected" ]] || fail "$method $url: HTTP $status, expected $expected: $(cat "$body")"
    cat "$body"
}

# json EXPRESSION: evaluates a Python expression over the JSON on stdin, bound to `d`.
json() {
    "$PY" -c "import json, sys; d = json.load(sys.stdin); print($1)"
}

suffix="$(date +%s)$RANDOM"
email="smoke$suffix@example.com"
password="correct horse battery staple"

echo "--- POST /register"
request 201 POST "$USER_URL/register" \
    "{\"username\": \"smoke_$suffix\", \"email\": \"$email\", \"password\": \"$password\"}"
echo

echo "--- POST /login"
token=$(request 200 POST "$USER_URL/login" "{\"email\": \"$email\", \"password\": \"$password\"}" \
    | json 'd["access_token"]')
[[ -n $token ]] || fail "no access_token"
echo "token: ${token:0:24}..."

echo "--- GET /prices (waiting for AAPL)"
for _ in $(seq 1 60); do
    aapl=$(request 200 GET "$TRADING_URL/prices" \
        | json 'next((p["price"] for p in d if p["symbol"] == "AAPL"), "")')
    [[ -n $aapl ]] && break
    sleep 1
done
[[ -n $aapl ]] || fail "no AAPL price after 60 s"
echo "AAPL $aapl"

echo "--- POST /trade/buy 10 AAPL"
bought=$(request 201 POST "$TRADING_URL/trade/buy" '{"stock_symbol": "AAPL", "quantity": 10}' "$token")
echo "$bought"
[[ $(json '" ".join(map(str, (d["status"], d["filled_qty"])))' <<<"$bought") == "filled 10" ]] \
    || fail "buy: expected status filled with 10 shares"

echo "--- POST /trade/sell 5 AAPL"
sold=$(request 201 POST "$TRADING_URL/trade/sell" '{"stock_symbol": "AAPL", "quantity": 5}' "$token")
echo "$sold"
[[ $(json '" ".join(map(str, (d["status"], d["filled_qty"])))' <<<"$sold") == "filled 5" ]] \
    || fail "sell: expected status filled with 5 shares"

echo "--- GET /portfolio"
portfolio=$(request 200 GET "$TRADING_URL/portfolio" "" "$token")
echo "$portfolio"
held=$(json 'sum(p["qty"] for p in d["positions"] if p["symbol"] == "AAPL")' <<<"$portfolio")
[[ $held == 5 ]] || fail "portfolio: expected 5 AAPL, found $held"

echo "smoke test passed: bought 10 AAPL, sold 5, holding 5"
