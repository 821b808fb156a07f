"""The vault: encryption and keyed hashes for the personal data repositories store."""

from __future__ import annotations

from storage.crypto import BlindIndex, FieldCipher, KeyRing

__all__ = ["Vault"]


class Vault:
    """Encryption and keyed hashes for personal data (SPEC "Personal data").

    Repositories encrypt identity fields and card UIDs on the way in and decrypt them on the
    way out, so the domain works with plain values and the database never holds them.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.cipher = FieldCipher(ring)
        self.index = BlindIndex(ring)

    def seal(self, value: str | None, field: str) -> str | None:
        return None if value is None else self.cipher.encrypt(value, field=field)

    def open(self, token: str | None, field: str) -> str | None:
        return None if token is None else self.cipher.decrypt(token, field=field)

    def digest(self, value: str | None, kind: str) -> str | None:
        return None if value is None else self.index.digest(value, kind=kind)

    def candidates(self, value: str, kind: str) -> list[str]:
        return self.index.candidates(value, kind=kind)
