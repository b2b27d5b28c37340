"""Signing keys (generated once, persisted, required outside development), JWKS and health."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from devstack.servers import free_port
from tests.user_service.conftest import new_user, serving
from user_service.config import UserSettings
from user_service.keys import SigningKey, jwk_thumbprint


def test_thumbprint_matches_rfc_8037() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the appendix A.2 Ed25519 public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


async def test_jwks_endpoint_and_file_publish_the_public_key(
    client: httpx.AsyncClient, settings: UserSettings
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert key["kid"] == jwk_thumbprint(key)
    assert "d" not in key  # the private part
    assert json.loads((settings.data_dir / "keys" / "jwks.json").read_text()) == response.json()


async def test_generated_key_is_kept_across_restarts(
    settings: UserSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"data_dir": tmp_path})
    async with serving(settings) as client:
        first = (await client.get("/.well-known/jwks.json")).json()
    key_file = tmp_path / "keys" / "jwt_private.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with serving(settings) as client:
        second = (await client.get("/.well-known/jwks.json")).json()
    assert first == second


async def test_configured_key_is_used(settings: UserSettings, tmp_path: Path) -> None:
    private_key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = settings.model_copy(
        update={"data_dir": tmp_path, "jwt_private_key_path": key_file, "environment": "prod"}
    )
    async with serving(settings) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert jwks == SigningKey.from_private_key(private_key).jwks()
    assert not (tmp_path / "keys" / "jwt_private.pem").exists()


async def test_a_key_that_is_not_ed25519_is_refused(settings: UserSettings, tmp_path: Path) -> None:
    key_file = tmp_path / "rsa.pem"
    key_file.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = settings.model_copy(update={"data_dir": tmp_path, "jwt_private_key_path": key_file})
    with pytest.raises(RuntimeError, match="not an Ed25519 private key"):
        async with serving(settings):
            pass


def test_refuses_to_start_outside_development_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STOCKSIM_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://stocksim:s3cret@db:5432/stocksim")
    monkeypatch.delenv("USER_JWT_PRIVATE_KEY_PATH", raising=False)
    with pytest.raises(ValidationError, match="USER_JWT_PRIVATE_KEY_PATH"):
        UserSettings()
    monkeypatch.setenv("USER_JWT_PRIVATE_KEY_PATH", str(tmp_path / "key.pem"))
    assert UserSettings().jwt_private_key_path == tmp_path / "key.pem"


def test_settings_read_their_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_PORT", "9101")
    monkeypatch.setenv("USER_JWT_LIFETIME_S", "60")
    monkeypatch.setenv("USER_JWT_AUDIENCE", "elsewhere")
    settings = UserSettings()
    assert (settings.port, settings.jwt_lifetime_s, settings.jwt_audience) == (
        9101,
        60,
        "elsewhere",
    )


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_database_down_gives_503_not_500(settings: UserSettings, tmp_path: Path) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/stocksim"
    settings = settings.model_copy(update={"data_dir": tmp_path, "database_url": nowhere})
    async with serving(settings) as client:
        health = await client.get("/health")
        registration = await client.post("/register", json=new_user())
    for response in (health, registration):
        assert response.status_code == 503
        assert response.json() == {
            "error": "service_unavailable",
            "detail": "database unavailable",
        }


async def test_openapi_documents_the_endpoints(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["title"] == "StockSim user service"
    register = spec["paths"]["/register"]["post"]
    assert register["summary"] and register["description"]
    schema = spec["components"]["schemas"]["RegisterRequest"]
    assert schema["examples"][0]["username"] == "john_doe"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
