"""Attempt limits for login and registration: fixed windows counted in Redis.

Counted in Redis (not in process memory) so every replica of the user service shares them.
An attempt is counted before the password is checked, so parallel guesses cannot slip past the
limit; a successful login gives its attempt back, so users who get in never use up the limit.

Failed logins are counted per (account, address), per address, and per account with a much
higher ceiling; an attempt refused by any of them counts against none. So a guesser at one
address uses up its own allowance for an account, not the owner's: the account's ceiling can
only be reached from many addresses (docs/guarantees.md has the reasoning).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Request
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import DomainError, ServiceUnavailable
from user_service.config import UserSettings

KEY_PREFIX = "stocksim:throttle:"
# Check every counter, then count in all of them or in none: an attempt that one limit refuses
# must not use up another (else a refused guesser could still exhaust the account's ceiling).
# KEYS: the counters; ARGV: attempts allowed and window seconds for each, in turn.
# Returns 0 when counted, else the 1-based index of the refusing limit and its seconds left.
_ATTEMPT = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[2 * i - 1]) then
    return {i, redis.call('TTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return {0, 0}
"""
# Decrement only a live, positive counter: a refund landing after its window expired must not
# create a key without expiry.
_REFUND = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


THROTTLED = Counter(
    "stocksim_login_throttled_total",
    "Logins and sign-ups refused with 429, by limit (login, login-from, register-from).",
    ["limit"],
)


class TooManyRequests(DomainError):
    status = 429
    error = "too_many_requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


@dataclass(frozen=True)
class Limit:
    """At most `attempts` per `window_s` seconds for one subject (an account, an address, both)."""

    scope: str
    attempts: int
    window_s: int
    what: str


@dataclass(frozen=True)
class Attempt:
    """A counted attempt; `refund` gives it back (for a login that succeeded)."""

    keys: tuple[str, ...]


class Throttle:
    def __init__(
        self,
        redis: Redis,
        login_per_email_per_ip: Limit,
        login_per_ip: Limit,
        login_per_email: Limit,
        register_per_ip: Limit,
    ) -> None:
        self._redis = redis
        self._attempt_script = redis.register_script(_ATTEMPT)
        self._refund_script = redis.register_script(_REFUND)
        self._login_per_email_per_ip = login_per_email_per_ip
        self._login_per_ip = login_per_ip
        self._login_per_email = login_per_email
        self._register_per_ip = register_per_ip

    @classmethod
    def from_settings(cls, redis: Redis, settings: UserSettings) -> Throttle:
        window = settings.throttle_window_s
        return cls(
            redis,
            login_per_email_per_ip=Limit(
                "login-account-from",
                settings.login_max_per_email_per_ip,
                window,
                "failed logins for this account from your address",
            ),
            login_per_ip=Limit(
                "login-from", settings.login_max_per_ip, window, "failed logins from your address"
            ),
            login_per_email=Limit(
                "login", settings.login_max_per_email, window, "failed logins for this account"
            ),
            register_per_ip=Limit(
                "register-from", settings.register_max_per_ip, window, "sign-ups from your address"
            ),
        )

    async def login(self, email: str, client: str) -> Attempt:
        """A password check for `email` from `client`; refund it when the password was right."""
        return await self.attempt(
            # The pair as one subject; the NUL cannot occur in an email or an address.
            (self._login_per_email_per_ip, f"{email.lower()}\0{client}"),
            (self._login_per_ip, client),
            (self._login_per_email, email),
        )

    async def registration(self, client: str) -> None:
        # Counted whatever the outcome: a 409 is as slow and as limited as a 201.
        await self.attempt((self._register_per_ip, client))

    async def attempt(self, *checks: tuple[Limit, str]) -> Attempt:
        """Count one attempt against every (limit, subject), or 429 and count it nowhere."""
        keys = [_key(limit.scope, subject) for limit, subject in checks]
        windows = [v for limit, _ in checks for v in (limit.attempts, limit.window_s)]
        try:
            refused, ttl = await self._attempt_script(keys=keys, args=windows)
        except (RedisError, OSError):
            raise ServiceUnavailable("attempt counter unavailable") from None
        if refused:
            limit = checks[int(refused) - 1][0]
            THROTTLED.labels(limit.scope).inc()
            retry_after = int(ttl) if int(ttl) > 0 else limit.window_s
            raise TooManyRequests(
                f"too many {limit.what}; try again in {retry_after} s", retry_after
            )
        return Attempt(tuple(keys))

    async def refund(self, attempt: Attempt) -> None:
        try:
            for key in attempt.keys:
                await self._refund_script(keys=[key])
        except (RedisError, OSError):
            pass  # a lost refund only makes the limit a little stricter for one window


def client_address(request: Request, trust_forwarded_for: bool) -> str:
    """The caller's address; behind a trusted proxy, the one the proxy saw (rightmost hop)."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.client.host if request.client else "unknown"


def _key(scope: str, subject: str) -> str:
    # Hashed: the keys hold no email addresses, and any subject gives a key of one size.
    digest = hashlib.sha256(subject.lower().encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}{scope}:{digest}"
