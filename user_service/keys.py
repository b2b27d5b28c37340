"""Ed25519 keys of access tokens: the one that signs, and all published as a JWKS (RFC 7517/8037).

Rotation (README, "Rotating the signing key"): the key at USER_JWT_PRIVATE_KEY_PATH signs; the
keys in USER_JWT_EXTRA_KEY_PATHS are published too but sign nothing (the previous key, whose
tokens stay valid until they expire, or the next one, announced ahead). The files are read
again when they change (`key_files_changed`), so a key switches without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from user_service.config import UserSettings

PRIVATE_KEY_FILE = "jwt_private.pem"
JWKS_FILE = "jwks.json"


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    kid: str
    public_jwk: dict[str, str]

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        jwk = public_jwk(private_key.public_key())
        return cls(private_key=private_key, kid=jwk["kid"], public_jwk=jwk)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self.public_jwk)]}


@dataclass(frozen=True)
class KeyRing:
    """The active signing key and every public key the JWKS publishes (the active one first)."""

    active: SigningKey
    published: tuple[dict[str, str], ...]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(jwk) for jwk in self.published]}


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    x = _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    kid = jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": x})
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def load_key_ring(settings: UserSettings) -> KeyRing:
    """The signing key and the extra published keys (PEM, private or public Ed25519).

    An extra key file that does not exist is skipped: the paths can stay configured between
    rotations (e.g. previous.pem, present only while the old key's tokens live).
    """
    active = load_signing_key(settings)
    published = {active.kid: active.public_jwk}
    for path in settings.jwt_extra_key_paths:
        if not path.exists():
            continue
        jwk = public_jwk(_read_public_key(path))
        published.setdefault(jwk["kid"], jwk)
    return KeyRing(active, tuple(published.values()))


def key_files_state(settings: UserSettings) -> tuple[tuple[str, int | None], ...]:
    """Each key file with its modification time (None: absent); a change means read again."""
    paths = [settings.jwt_private_key_path, *settings.jwt_extra_key_paths]
    state: list[tuple[str, int | None]] = []
    for path in paths:
        if path is None:
            continue
        try:
            state.append((str(path), path.stat().st_mtime_ns))
        except FileNotFoundError:
            state.append((str(path), None))
    return tuple(state)


def _read_public_key(path: Path) -> Ed25519PublicKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise RuntimeError(f"cannot read the JWT key {path}: {exc}") from exc
    key: object
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise RuntimeError(f"{path} holds no PEM key") from None
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise RuntimeError(f"{path} is not an Ed25519 key")
    return key


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_signing_key(settings: UserSettings) -> SigningKey:
    """The configured key, or in development a generated one kept under data_dir/keys."""
    path = settings.jwt_private_key_path
    if path is None:
        path = settings.keys_dir / PRIVATE_KEY_FILE
        if not path.exists():
            _create_private_key(path)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise RuntimeError(f"cannot read the JWT private key {path}: {exc}") from exc
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    return SigningKey.from_private_key(private_key)


def write_jwks(keys: SigningKey | KeyRing, keys_dir: Path) -> Path:
    """Publish the public JWKS as a file so other services on this machine can skip HTTP."""
    path = keys_dir / JWKS_FILE
    _write_atomically(path, json.dumps(keys.jwks(), indent=2).encode(), mode=0o644)
    return path


def _create_private_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_file(path, pem, mode=0o600)
    try:
        # link() fails if the file appeared meanwhile: two processes starting at once share one key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def _write_atomically(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_temp_file(path, content, mode), path)


def _temp_file(next_to: Path, content: bytes, mode: int) -> Path:
    fd, name = tempfile.mkstemp(dir=next_to.parent, prefix=f".{next_to.name}.")
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, mode)
        file.write(content)
        file.flush()
        os.fsync(fd)
    return Path(name)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
