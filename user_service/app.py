"""The user service's FastAPI app: registration, login, and the keys that verify its tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from shared.apidocs import install_api_docs
from shared.db import create_db_engine
from shared.errors import install_error_handlers
from shared.limits import BodySizeLimit
from shared.logging import configure_logging
from shared.metrics import install_metrics
from shared.probes import Check, postgres_check, probe_router, redis_check
from shared.revoked_tokens import RevokedTokens
from shared.tokens import TokenVerifier
from user_service import health
from user_service.api_keys import endpoints as api_key_endpoints
from user_service.auth import endpoints as auth_endpoints
from user_service.auth.service import TokenSigner
from user_service.config import UserSettings
from user_service.deps import Resources
from user_service.keys import KeyRing, key_files_state, load_key_ring, write_jwks
from user_service.passwords import PasswordHasher
from user_service.throttle import Throttle
from user_service.users import endpoints as user_endpoints

log = logging.getLogger(__name__)

DESCRIPTION = """
Registers users and logs them in. Access tokens are JWTs signed with Ed25519 (`EdDSA`);
the trading service verifies them with the public keys at `/.well-known/jwks.json` and
cannot mint any. Every error is `{"error": ..., "detail": ...}`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: UserSettings = app.state.settings
    configure_logging("user_service", settings.log_level, settings.log_json)
    key_files = key_files_state(settings)
    keys = load_key_ring(settings)
    jwks_path = write_jwks(keys, settings.keys_dir)
    engine = create_db_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    app.state.resources = Resources(
        engine=engine,
        hasher=PasswordHasher(),
        **_key_resources(keys, settings),
        settings=settings,
        redis=redis,
        throttle=Throttle.from_settings(redis, settings),
        # Always asked (no cache): a logout here is refused here at once.
        revoked=RevokedTokens(redis, recheck_after_s=0),
    )
    log.info(
        "user service started",
        extra={"kid": keys.active.kid, "published": _kids(keys), "jwks_file": str(jwks_path)},
    )
    reloading = (
        asyncio.create_task(_reload_keys(app, settings, key_files))
        if settings.jwt_key_reload_s
        else None
    )
    try:
        yield
    finally:
        if reloading is not None:
            reloading.cancel()
        await redis.aclose()
        await engine.dispose()


def _key_resources(keys: KeyRing, settings: UserSettings) -> dict[str, Any]:
    return {
        "signing_key": keys.active,
        "keys": keys,
        "signer": TokenSigner(
            key=keys.active,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime_s=settings.jwt_lifetime_s,
        ),
        "verifier": TokenVerifier(keys.jwks(), settings.jwt_issuer, settings.jwt_audience),
    }


def _kids(keys: KeyRing) -> list[str]:
    return [jwk["kid"] for jwk in keys.published]


async def _reload_keys(
    app: FastAPI, settings: UserSettings, key_files: tuple[tuple[str, int | None], ...]
) -> None:
    """Forever: when a key file changed, read the keys again and swap them in as one.

    Requests already running finish with the keys they started with. A broken file is logged
    and the keys in use stay.
    """
    while True:
        await asyncio.sleep(settings.jwt_key_reload_s)
        now = await asyncio.to_thread(key_files_state, settings)
        if now == key_files:
            continue
        key_files = now
        try:
            keys = await asyncio.to_thread(load_key_ring, settings)
            await asyncio.to_thread(write_jwks, keys, settings.keys_dir)
        except (RuntimeError, ValueError, OSError):
            log.exception("could not read the JWT keys again; keeping the keys in use")
            continue
        old: Resources = app.state.resources
        if _kids(keys) == _kids(old.keys) and keys.active.kid == old.keys.active.kid:
            continue
        app.state.resources = replace(old, **_key_resources(keys, settings))
        log.info("JWT keys reloaded", extra={"kid": keys.active.kid, "published": _kids(keys)})


def create_app(settings: UserSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="StockSim user service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN; /docs is shared/apidocs.py.
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.settings = settings or UserSettings()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    install_metrics(app, "user")

    def readiness_checks() -> dict[str, Check]:
        resources: Resources = app.state.resources
        # Redis holds the login and sign-up throttle: without it both answer 503.
        return {"postgres": postgres_check(resources.engine), "redis": redis_check(resources.redis)}

    app.include_router(probe_router(readiness_checks))
    app.include_router(user_endpoints.router)
    app.include_router(auth_endpoints.router)
    app.include_router(api_key_endpoints.router)
    app.include_router(health.router)
    return app


app = create_app()
