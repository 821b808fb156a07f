"""Secrets at rest: salted slow hashes for passwords, SHA-256 for random API tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = [
    "generate_password",
    "generate_token",
    "hash_password",
    "hash_token",
    "verify_password",
]

# scrypt parameters (RFC 7914): N=2**14, r=8, p=1 — 16 MiB and ~40 ms per hash here.
_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, _unb64(digest))


def generate_password() -> str:
    """A charger password: 24 URL-safe characters (within 2.0.1's 16–40 limit)."""
    return secrets.token_urlsafe(18)


def generate_token() -> str:
    return "csms_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
