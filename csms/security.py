"""Secrets at rest: salted slow hashes for passwords and PINs, SHA-256 for random API tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets

__all__ = [
    "generate_password",
    "generate_token",
    "hash_password",
    "hash_pin",
    "hash_token",
    "validate_pin",
    "verify_password",
    "verify_pin",
]

# scrypt parameters (RFC 7914): N=2**14, r=8, p=1 — 16 MiB and ~40 ms per hash here.
_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt_hash(secret: str, scheme: str) -> str:
    """``SCHEME$N$r$p$salt$hash`` of ``secret`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{scheme}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _scrypt_matches(secret: str, n: str, r: str, p: str, salt: str, digest: str) -> bool:
    """Whether ``secret`` hashes to ``digest`` under the stored parameters and salt
    (``ValueError`` for numbers or base64 that do not parse, or parameters scrypt refuses)."""
    candidate = hashlib.scrypt(
        secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, _unb64(digest))


_PASSWORD_SCHEME = "scrypt"


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` with a fresh 16-byte salt."""
    return _scrypt_hash(password, _PASSWORD_SCHEME)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (from ``hash_password``); False for a hash
    of another scheme or field count, ``ValueError`` for fields that do not parse."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    return scheme == _PASSWORD_SCHEME and _scrypt_matches(password, n, r, p, salt, digest)


def generate_password() -> str:
    """A charger password: 24 URL-safe characters (within 2.0.1's 16–40 limit)."""
    return secrets.token_urlsafe(18)


def generate_token() -> str:
    """A new API token: ``csms_`` and 43 URL-safe characters (256 random bits)."""
    return "csms_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 of a random token, in hex: all that is stored of it (no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


_PIN_SCHEME = "scrypt-pin"
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
    """``scrypt-pin$N$r$p$salt$hash`` with a fresh 16-byte salt.

    Raises ``ValueError`` (with ``validate_pin``'s reason) for an unacceptable PIN, so a
    weak PIN is never stored by mistake. The scheme differs from ``hash_password``'s, so a
    PIN hash is never accepted as a password hash or the other way round.
    """
    problem = validate_pin(pin)
    if problem is not None:
        raise ValueError(problem)
    return _scrypt_hash(pin, _PIN_SCHEME)


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored`` (from ``hash_pin``); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        return scheme == _PIN_SCHEME and _scrypt_matches(pin, n, r, p, salt, digest)
    except ValueError:  # wrong field count, bad numbers or base64, parameters scrypt refuses
        return False
