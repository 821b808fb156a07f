"""Password and PIN hashes as csms wrote them before argon2id (scrypt N=2^14, r=8, p=1),
made the way that code made them, so tests can check they still verify and get rehashed."""

from __future__ import annotations

import base64
import hashlib
import secrets

__all__ = ["legacy_scrypt_password_hash", "legacy_scrypt_pin_hash"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _scrypt(secret: str, scheme: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"{scheme}${2**14}$8$1${_b64(salt)}${_b64(digest)}"


def legacy_scrypt_password_hash(password: str) -> str:
    """``scrypt$16384$8$1$salt$hash``."""
    return _scrypt(password, "scrypt")


def legacy_scrypt_pin_hash(pin: str) -> str:
    """``scrypt-pin$16384$8$1$salt$hash``."""
    return _scrypt(pin, "scrypt-pin")
