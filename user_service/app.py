"""The user service's FastAPI app: registration, login, and the keys that verify its tokens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis

from shared.db import create_db_engine
from shared.errors import install_error_handlers
from shared.limits import BodySizeLimit
from shared.logging import configure_logging
from shared.tokens import TokenVerifier
from user_service import health
from user_service.api_keys import endpoints as api_key_endpoints
from user_service.auth import endpoints as auth_endpoints
from user_service.auth.service import TokenSigner
from user_service.config import UserSettings
from user_service.deps import Resources
from user_service.keys import load_signing_key, write_jwks
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
    signing_key = load_signing_key(settings)
    jwks_path = write_jwks(signing_key, settings.keys_dir)
    engine = create_db_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    app.state.resources = Resources(
        engine=engine,
        hasher=PasswordHasher(),
        signing_key=signing_key,
        signer=TokenSigner(
            key=signing_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            lifetime_s=settings.jwt_lifetime_s,
        ),
        verifier=TokenVerifier(signing_key.jwks(), settings.jwt_issuer, settings.jwt_audience),
        settings=settings,
        redis=redis,
        throttle=Throttle.from_settings(redis, settings),
    )
    log.info("user service started", extra={"kid": signing_key.kid, "jwks_file": str(jwks_path)})
    try:
        yield
    finally:
        await redis.aclose()
        await engine.dispose()


def create_app(settings: UserSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="StockSim user service",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings or UserSettings()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.include_router(user_endpoints.router)
    app.include_router(auth_endpoints.router)
    app.include_router(api_key_endpoints.router)
    app.include_router(health.router)
    return app


app = create_app()
