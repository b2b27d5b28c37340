#!/usr/bin/env bash
# Writes .env for docker-compose.yml with a random PostgreSQL password (never committed: .env
# is in .gitignore). Compose reads .env by itself; an existing .env is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -e .env ]] && grep -q '^POSTGRES_PASSWORD=' .env; then
    echo ".env already sets POSTGRES_PASSWORD"
    exit 0
fi
umask 077
echo "POSTGRES_PASSWORD=$(openssl rand -hex 24)" >> .env
echo "wrote POSTGRES_PASSWORD to .env"
