"""Which new passwords are too weak to accept (NIST SP 800-63B style: length and a blocklist).

Checked at sign-up only: existing users whose passwords predate the policy still log in.

The blocklist `common_passwords.txt` holds the 10,000 most common passwords, most frequent
first: the head of the "passwords" frequency list of the zxcvbn package (4.5.0, MIT licence,
drawn from leaked password sets). The web page's sign-up form applies the same rules to the
same file (web/src/password.ts), so what the form accepts the server accepts.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from shared.errors import DomainError

MIN_LENGTH = 10
MAX_LENGTH = 128  # keeps a request from making the server hash megabytes (Argon2 is costly)
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")

# "Password2024!" is "password" with a suffix that guessers try first.
# ASCII classes, as in the browser's copy of this rule (JavaScript's \W is ASCII-only).
_DECORATION = re.compile(r"[\d\W_]+$", re.ASCII)


class WeakPassword(DomainError):
    """The password breaks the policy; the detail says which rule, in words for a person."""

    status = 422
    error = "weak_password"


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def check_password(password: str, *, username: str = "", email: str = "") -> None:
    """Raise WeakPassword with the first rule `password` breaks; return when it is acceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    lowered = password.lower()
    if len(set(lowered)) == 1:
        raise WeakPassword("A password of one repeated character is too easy to guess.")
    identities = {username.lower(), email.lower(), email.lower().partition("@")[0]} - {""}
    if any(identity in lowered for identity in identities if len(identity) >= 3):
        raise WeakPassword("The password must not contain your user name or email.")
    common = common_passwords()
    base = _DECORATION.sub("", lowered)
    if lowered in common or (base and base in common):
        raise WeakPassword(
            "This password is one of the 10,000 most common passwords (or one with digits or "
            "symbols added at the end); attackers try those first. Choose another."
        )
