#!/usr/bin/env bash
# Creates the Ed25519 key the user service signs access tokens with, for docker-compose.yml.
# (`make run` needs none: in development the user service generates one under .data/keys.)
set -euo pipefail
cd "$(dirname "$0")/.."
key=secrets/jwt-private-key.pem
if [[ -e $key ]]; then
    echo "$key exists; to change keys without invalidating tokens, see README: Rotating the signing key"
    exit 0
fi
mkdir -p secrets
chmod 700 secrets
echo "*" > secrets/.gitignore  # never commit the key
openssl genpkey -algorithm ed25519 -out "$key"
# Readable by the container's user (uid 10001); the folder above stays private.
chmod 644 "$key"
echo "wrote $key"
