"""The user service's settings: the shared connections plus its own `USER_`-prefixed fields."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.config import CommonSettings


class UserSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="USER_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    # PEM file of the Ed25519 signing key; in development one is generated under data_dir/keys.
    jwt_private_key_path: Path | None = None
    # More public keys for the JWKS, signing nothing: the previous key while its tokens live,
    # or the next one announced ahead (README, "Rotating the signing key"). Comma-separated.
    jwt_extra_key_paths: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    # How often the key files are checked for a change (a switch without restart); 0: never.
    jwt_key_reload_s: float = Field(default=5.0, ge=0)
    jwt_issuer: str = "stocksim-user-service"
    jwt_audience: str = "stocksim"
    jwt_lifetime_s: int = Field(default=3600, ge=1)
    # Failed logins per account from one address, per address, and per account from all
    # addresses (a ceiling well above the first, so one guesser cannot lock the owner out);
    # sign-ups per address. user_service/throttle.py, docs/guarantees.md.
    login_max_per_email_per_ip: int = Field(default=5, ge=1)
    login_max_per_ip: int = Field(default=20, ge=1)
    login_max_per_email: int = Field(default=100, ge=1)
    register_max_per_ip: int = Field(default=10, ge=1)
    throttle_window_s: int = Field(default=60, ge=1)
    # Only behind a proxy that sets X-Forwarded-For: otherwise any client could claim any address.
    trust_forwarded_for: bool = False

    @field_validator("jwt_extra_key_paths", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value

    @model_validator(mode="after")
    def _key_outside_development(self) -> UserSettings:
        # A generated key would change per machine and lives next to the data: fine only for dev.
        if self.jwt_private_key_path is None and not self.is_development:
            raise ValueError(
                "USER_JWT_PRIVATE_KEY_PATH must point to an Ed25519 PEM key outside development"
            )
        return self

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"
