"""Secrets at rest: salted slow hashes for passwords and PINs, SHA-256 for random API tokens.

Passwords and PINs are hashed with argon2id at the OWASP password-storage minimum
(Password Storage Cheat Sheet: m=19 MiB, t=2, p=1; ~40 ms here), through ``argon2-cffi``,
the binding to the reference implementation. Hashes csms wrote before (``scrypt$…``,
``scrypt-pin$…``: scrypt N=2^14, r=8, p=1) still verify; :func:`password_needs_rehash` /
:func:`pin_needs_rehash` say so, and the logins that verified them store a new hash
(``csms.domain.people.accounts``, ``csms.domain.people.pin_login``).

The two kinds of hash never stand in for each other: a password hash is the plain argon2
string (``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``), a PIN hash the same behind
``pin`` (``pin$argon2id$…``), so a PIN hash is never accepted as a password hash or the
other way round (a PIN has only 10^4–10^8 values).

Charger passwords (HTTP Basic, ``csms.gateway``) use :func:`hash_password` too. Those csms
generates are 144 random bits, for which a fast hash would be enough, but an operator may
choose one (``--password``, 8–40 characters) and a slow hash is what keeps a weak one safe
in a stolen database. Reconnect storms do not pay for it: the gateway remembers the
passwords it verified (``Gateway._verified``), so a charger's reconnects with the same
password cost one SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "generate_password",
    "generate_token",
    "hash_password",
    "hash_pin",
    "hash_token",
    "password_needs_rehash",
    "pin_needs_rehash",
    "validate_pin",
    "verify_password",
    "verify_pin",
]

#: argon2id cost, the OWASP Password Storage Cheat Sheet's minimum: 19 MiB, 2 passes, 1 lane.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

_HASHER = argon2.PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=argon2.Type.ID,
)
_ARGON2_PREFIX = "$argon2id$"
_PIN_PREFIX = "pin"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- argon2id (what csms writes) ------------------------------------------------------


def _argon2_matches(secret: str, encoded: str) -> bool:
    """Whether ``secret`` matches an argon2id string; False for one that does not parse."""
    if not encoded.startswith(_ARGON2_PREFIX):
        return False
    try:
        return _HASHER.verify(encoded, secret)
    except (VerificationError, InvalidHashError):
        return False


def _argon2_outdated(encoded: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(encoded)
    except (InvalidHashError, ValueError):
        return True


# -- scrypt (what csms wrote before: verified, never written) -------------------------

_SCRYPT_PASSWORD = "scrypt"
_SCRYPT_PIN = "scrypt-pin"


def _scrypt_matches(secret: str, stored: str, scheme: str) -> bool:
    """Whether ``secret`` matches ``SCHEME$N$r$p$salt$hash`` under the stored parameters;
    False for another scheme, another field count, numbers or base64 that do not parse, or
    parameters scrypt refuses."""
    try:
        found, n, r, p, salt, digest = stored.split("$")
        if found != scheme:
            return False
        candidate = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
        return hmac.compare_digest(candidate, _unb64(digest))
    except ValueError:
        return False


# -- passwords ------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """``$argon2id$v=19$m=19456,t=2,p=1$salt$hash`` with a fresh 16-byte salt (slow: call
    it in a worker thread)."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (from :func:`hash_password`, or an older
    scrypt password hash); False for a PIN hash or anything malformed."""
    if stored.startswith(_ARGON2_PREFIX):
        return _argon2_matches(password, stored)
    return _scrypt_matches(password, stored, _SCRYPT_PASSWORD)


def password_needs_rehash(stored: str) -> bool:
    """Whether a password hash that just verified should be replaced by a new
    :func:`hash_password` (it is scrypt, or argon2id below today's cost)."""
    return _argon2_outdated(stored)


def generate_password() -> str:
    """A charger password: 24 URL-safe characters (within 2.0.1's 16–40 limit)."""
    return secrets.token_urlsafe(18)


def generate_token() -> str:
    """A new API token: ``csms_`` and 43 URL-safe characters (256 random bits)."""
    return "csms_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 of a random token, in hex: all that is stored of it (no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


# -- PINs -----------------------------------------------------------------------------

_DIGITS = "0123456789"


def validate_pin(pin: str) -> str | None:
    """Why ``pin`` is not acceptable as a PIN, or None if it is.

    A PIN is 4–8 ASCII digits, not all the same (``0000``) and not a run of consecutive
    digits up or down (``1234``, ``4321``): those are the first ones anybody tries.
    """
    if not 4 <= len(pin) <= 8 or any(c not in _DIGITS for c in pin):
        return "a PIN must be 4 to 8 digits (0-9)"
    if len(set(pin)) == 1:
        return "a PIN must not be one digit repeated (like 0000)"
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        return "a PIN must not be a run of consecutive digits (like 1234 or 4321)"
    return None


def hash_pin(pin: str) -> str:
    """``pin$argon2id$v=19$m=19456,t=2,p=1$salt$hash`` with a fresh 16-byte salt.

    Raises ``ValueError`` (with ``validate_pin``'s reason) for an unacceptable PIN, so a
    weak PIN is never stored by mistake. The ``pin`` prefix keeps it apart from
    ``hash_password``'s, so a PIN hash is never accepted as a password hash or the other
    way round.
    """
    problem = validate_pin(pin)
    if problem is not None:
        raise ValueError(problem)
    return _PIN_PREFIX + _HASHER.hash(pin)


def _pin_argon2(stored: str) -> str | None:
    if stored.startswith(_PIN_PREFIX + _ARGON2_PREFIX):
        return stored.removeprefix(_PIN_PREFIX)
    return None


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored`` (from :func:`hash_pin`, or an older scrypt PIN
    hash); False for a password hash or anything malformed."""
    encoded = _pin_argon2(stored)
    if encoded is not None:
        return _argon2_matches(pin, encoded)
    return _scrypt_matches(pin, stored, _SCRYPT_PIN)


def pin_needs_rehash(stored: str) -> bool:
    """Whether a PIN hash that just verified should be replaced by a new :func:`hash_pin`
    (it is scrypt, or argon2id below today's cost)."""
    encoded = _pin_argon2(stored)
    return encoded is None or _argon2_outdated(encoded)
