"""Personal data at rest: field encryption, keyed lookup hashes, the data key ring.

Personal data (customer names, e-mail addresses, phone numbers, RFID card UIDs) is stored
encrypted, so a copy of the database or of a backup does not give it away:

- ``FieldCipher`` encrypts one column value with AES-256-GCM. The token names the key it
  was encrypted under (``KEYID.BASE64URL``), and the column name is authenticated with it,
  so a value copied into another column does not decrypt.
- ``BlindIndex`` gives the keyed hash (HMAC-SHA256) of a normalized value, stored next to
  the ciphertext so a row can still be found by e-mail address or card UID without
  decrypting the whole table. Its key is derived separately from the encryption key.
- ``KeyRing`` holds the data keys, newest first: new values are encrypted and hashed under
  the newest key, older keys stay to read what was written under them until a rotation
  has re-encrypted every row. Keys come from ``CSMS_DATA_KEYS`` or from ``data.keys`` in
  the csms home directory (``load_key_ring``), which is created on first start.

Losing the data keys makes the encrypted data unreadable: ``data.keys`` must be backed up
with (but stored apart from) the database backups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_FILE_NAME",
    "BlindIndex",
    "DataKey",
    "DecryptionError",
    "FieldCipher",
    "KeyRing",
    "KeyRingError",
    "load_key_ring",
    "mask_uid",
    "normalize",
    "save_key_ring",
]

log = logging.getLogger(__name__)

#: The key ring file in the csms home directory (used when ``CSMS_DATA_KEYS`` is unset).
KEY_FILE_NAME = "data.keys"

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_FORMAT_HELP = (
    "expected comma-separated KEYID:KEY entries, newest first, where KEYID is 1–32 "
    "characters of A-Z a-z 0-9 _ - and KEY is 32 random bytes in base64url"
)
_ENCRYPTION_INFO = b"csms field encryption v1"
_BLIND_INDEX_INFO = b"csms blind index v1"
_DIGEST_BYTES = 16
_PHONE_DROP = re.compile(r"[^0-9]")


class KeyRingError(ValueError):
    """The data keys are missing or malformed. The message never contains key material."""


class DecryptionError(Exception):
    """A stored value cannot be decrypted: its key is missing, or it was altered or moved.

    The message names the field and the key id, never the plaintext or key bytes.
    """


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes | None:
    """``text`` decoded as base64url (padding optional), or None if it is not base64url."""
    if not _B64URL.fullmatch(text):
        return None
    bare = text.rstrip("=")
    if len(bare) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except ValueError:
        return None


def _derive(key: bytes, info: bytes) -> bytes:
    """A 32-byte subkey of ``key`` for one purpose (HKDF-SHA256, RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


@dataclass(frozen=True)
class DataKey:
    """One data key: an id (stored with every value written under it) and 32 secret bytes.

    The key bytes are left out of ``repr`` so a logged key ring does not leak them.
    """

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise KeyRingError(
                "invalid key id: it must be 1–32 characters of A-Z a-z 0-9 _ -; " + _FORMAT_HELP
            )
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise KeyRingError(
                f"key {self.key_id!r} is not {KEY_BYTES} bytes long; " + _FORMAT_HELP
            )


@dataclass(frozen=True, init=False)
class KeyRing:
    """The data keys, newest first (at least one, ids unique).

    Values are encrypted and hashed under the newest key; the older ones are kept to read
    values written before the last rotation. Immutable: ``with_new_key`` and ``without``
    return a new ring.
    """

    keys: tuple[DataKey, ...]

    def __init__(self, keys: Iterable[DataKey]) -> None:
        ordered = tuple(keys)
        if not ordered:
            raise KeyRingError("no data keys: " + _FORMAT_HELP)
        seen: set[str] = set()
        for key in ordered:
            if not isinstance(key, DataKey):
                raise TypeError(f"a key ring holds DataKey objects, not {type(key).__name__}")
            if key.key_id in seen:
                raise KeyRingError(f"key id {key.key_id!r} appears twice; " + _FORMAT_HELP)
            seen.add(key.key_id)
        object.__setattr__(self, "keys", ordered)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """The key ring in ``text`` (the ``CSMS_DATA_KEYS`` / ``data.keys`` format).

        Raises ``KeyRingError`` saying which entry is wrong and how; the message contains
        key ids that are well formed, never key text.
        """
        entries = [entry.strip() for entry in text.strip().split(",")]
        if entries == [""]:
            raise KeyRingError("no data keys: " + _FORMAT_HELP)
        keys: list[DataKey] = []
        for number, entry in enumerate(entries, start=1):
            if not entry:
                raise KeyRingError(f"entry {number} is empty; " + _FORMAT_HELP)
            key_id, colon, encoded = entry.partition(":")
            key_id, encoded = key_id.strip(), encoded.strip()
            if not colon:
                raise KeyRingError(f"entry {number} has no KEYID: prefix; " + _FORMAT_HELP)
            if not _KEY_ID.fullmatch(key_id):
                raise KeyRingError(
                    f"entry {number} has an invalid key id (it must be 1–32 characters of "
                    "A-Z a-z 0-9 _ -); " + _FORMAT_HELP
                )
            raw = _b64decode(encoded)
            if raw is None:
                raise KeyRingError(f"key {key_id!r} is not valid base64url; " + _FORMAT_HELP)
            if len(raw) != KEY_BYTES:
                raise KeyRingError(
                    f"key {key_id!r} decodes to {len(raw)} bytes, not {KEY_BYTES}; " + _FORMAT_HELP
                )
            keys.append(DataKey(key_id, raw))
        return cls(keys)

    def format(self) -> str:
        """The ring in the ``CSMS_DATA_KEYS`` / ``data.keys`` format (``parse`` reads it)."""
        return ",".join(f"{key.key_id}:{_b64encode(key.key)}" for key in self.keys)

    @staticmethod
    def generate(key_id: str | None = None) -> DataKey:
        """A new random data key; its id defaults to ``k`` + UTC date + 4 random hex digits."""
        if key_id is None:
            key_id = f"k{datetime.now(UTC):%Y%m%d}{secrets.token_hex(2)}"
        return DataKey(key_id, secrets.token_bytes(KEY_BYTES))

    @property
    def newest(self) -> DataKey:
        """The key new values are encrypted and hashed under."""
        return self.keys[0]

    @property
    def key_ids(self) -> list[str]:
        return [key.key_id for key in self.keys]

    def get(self, key_id: str) -> DataKey | None:
        """The key with id ``key_id``, or None if the ring does not hold it."""
        for key in self.keys:
            if key.key_id == key_id:
                return key
        return None

    def with_new_key(self, key: DataKey) -> KeyRing:
        """This ring with ``key`` as the newest key (the first step of a rotation)."""
        return KeyRing((key, *self.keys))

    def without(self, key_id: str) -> KeyRing:
        """This ring without key ``key_id`` (once nothing is stored under it any more)."""
        if self.get(key_id) is None:
            raise KeyRingError(f"key {key_id!r} is not in the key ring")
        if len(self.keys) == 1:
            raise KeyRingError(f"key {key_id!r} is the only data key and cannot be removed")
        return KeyRing(key for key in self.keys if key.key_id != key_id)

    def __iter__(self) -> Iterator[DataKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


# --- the key file ----------------------------------------------------------------------


def load_key_ring(*, env_value: str | None, home: Path) -> KeyRing:
    """The data keys: from ``env_value`` (``CSMS_DATA_KEYS``) if set, else ``home/data.keys``.

    On first start (no variable, no file) a key is generated and written to
    ``home/data.keys`` with mode 0600. A key file that other users can read is still used,
    with a warning. Raises ``KeyRingError`` if the keys are malformed.
    """
    if env_value is not None and env_value.strip():
        try:
            return KeyRing.parse(env_value)
        except KeyRingError as exc:
            raise KeyRingError(f"CSMS_DATA_KEYS: {exc}") from None
    path = home / KEY_FILE_NAME
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    ring = KeyRing([KeyRing.generate()])
    if _write_key_file(home, ring, replace=False):
        log.warning(
            "generated data key %s in %s: back this file up (apart from the database); "
            "without it the encrypted personal data cannot be read",
            ring.newest.key_id,
            path,
        )
        return ring
    # Another process created the file first: use its key, not ours.
    return _read_key_file(path)


def save_key_ring(ring: KeyRing, home: Path) -> Path:
    """Write ``ring`` to ``home/data.keys`` (mode 0600, atomically); returns the path."""
    _write_key_file(home, ring, replace=True)
    return home / KEY_FILE_NAME


def _read_key_file(path: Path) -> KeyRing:
    with path.open(encoding="utf-8") as file:
        if os.name == "posix" and os.fstat(file.fileno()).st_mode & 0o077:
            log.warning(
                "%s can be read by other users: restrict it with `chmod 600 %s`", path, path
            )
        text = file.read()
    try:
        return KeyRing.parse(text)
    except KeyRingError as exc:
        raise KeyRingError(f"{path}: {exc}") from None


def _write_key_file(home: Path, ring: KeyRing, *, replace: bool) -> bool:
    """Write the key file atomically (temporary file, then rename), mode 0600.

    With ``replace=False`` an existing file is left alone and False returned, so two
    processes starting at once never overwrite each other's freshly generated key.
    """
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / KEY_FILE_NAME
    fd, tmp_name = tempfile.mkstemp(dir=home, prefix=f".{KEY_FILE_NAME}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)
            os.write(fd, (ring.format() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the file exists, unlike a rename
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links
                if path.exists():
                    return False
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(home)
    return True


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- field encryption ------------------------------------------------------------------


class FieldCipher:
    """Encrypts column values with AES-256-GCM under the newest data key.

    A token is ``KEYID.BASE64URL(nonce || ciphertext || tag)``: the key id says which key
    decrypts it, the nonce is 96 random bits per encryption (so equal values give unequal
    tokens), and ``field`` (e.g. ``"customers.email"``) is authenticated as associated
    data, so a token copied into another column fails to decrypt. The AES key is derived
    from the data key with HKDF-SHA256, separate from the ``BlindIndex`` key.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aead = {key.key_id: AESGCM(_derive(key.key, _ENCRYPTION_INFO)) for key in ring}

    def encrypt(self, plaintext: str, *, field: str) -> str:
        """The token for ``plaintext`` stored in column ``field``."""
        key_id = self.ring.newest.key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead[key_id].encrypt(nonce, plaintext.encode("utf-8"), field.encode())
        return f"{key_id}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, *, field: str) -> str:
        """The plaintext of ``token`` read from column ``field``.

        Raises ``DecryptionError`` if the token is malformed, its key is not in the ring
        (a retired key), or it was altered or encrypted for another field.
        """
        key_id = _token_key_id(token, field=field)
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptionError(
                f"cannot decrypt {field}: it is encrypted under data key {key_id!r}, which is "
                "missing from CSMS_DATA_KEYS / data.keys (add the key back; a retired key is "
                "needed until every value under it has been re-encrypted)"
            )
        data = token[len(key_id) + 1 :]
        raw = _b64decode(data)
        # One spelling per token: padding and spare bits in the last character are refused.
        if raw is None or len(raw) < _NONCE_BYTES + _TAG_BYTES or _b64encode(raw) != data:
            raise DecryptionError(f"cannot decrypt {field}: the stored value is malformed")
        try:
            plaintext = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], field.encode())
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt {field} under data key {key_id!r}: the value was altered or "
                "encrypted for another field"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:  # authentic but not text: not written by encrypt()
            raise DecryptionError(f"cannot decrypt {field}: the value is not text") from None

    def encrypt_optional(self, plaintext: str | None, *, field: str) -> str | None:
        """``encrypt`` for nullable columns: None stays None."""
        return None if plaintext is None else self.encrypt(plaintext, field=field)

    def decrypt_optional(self, token: str | None, *, field: str) -> str | None:
        """``decrypt`` for nullable columns: None stays None."""
        return None if token is None else self.decrypt(token, field=field)

    @staticmethod
    def key_id_of(token: str) -> str:
        """The id of the key ``token`` is encrypted under (``DecryptionError`` if malformed)."""
        return _token_key_id(token, field="value")

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is under an older key than the newest one (re-encrypt it)."""
        return self.key_id_of(token) != self.ring.newest.key_id


def _token_key_id(token: str, *, field: str) -> str:
    key_id, dot, _ = token.partition(".")
    if not dot or not _KEY_ID.fullmatch(key_id):
        raise DecryptionError(
            f"cannot decrypt {field}: the stored value is not an encrypted token (KEYID.DATA)"
        )
    return key_id


# --- blind indexes ---------------------------------------------------------------------


def normalize(value: str, *, kind: str) -> str:
    """``value`` as it is hashed for lookups of ``kind``, so equal values hash equally.

    ``email``: surrounding space removed, case folded. ``phone``: a leading ``+`` and the
    digits (spaces, dashes, dots and parentheses dropped). ``uid`` (RFID card UIDs, id
    tokens): surrounding space removed, upper case. Any other kind: surrounding space
    removed.
    """
    stripped = value.strip()
    if kind == "email":
        return stripped.casefold()
    if kind == "phone":
        prefix = "+" if stripped.startswith("+") else ""
        return prefix + _PHONE_DROP.sub("", stripped)
    if kind == "uid":
        return stripped.upper()
    return stripped


class BlindIndex:
    """Keyed hashes of normalized values, to find encrypted rows by value.

    ``digest`` is ``KEYID.HEX`` — the first 16 bytes of HMAC-SHA256 over
    ``kind + "\\0" + normalize(value)`` under a key derived (HKDF-SHA256) from the newest
    data key, apart from the encryption key. Without the data key the hashes cannot be
    checked against guessed values, unlike a plain SHA-256 of an e-mail address. ``kind``
    is hashed in, so equal strings of different kinds do not match.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._keys = {key.key_id: _derive(key.key, _BLIND_INDEX_INFO) for key in ring}

    def digest(self, value: str, *, kind: str) -> str:
        """The hash to store with a ``kind`` value (under the newest key)."""
        return self._digest(self.ring.newest.key_id, value, kind=kind)

    def candidates(self, value: str, *, kind: str) -> list[str]:
        """The hash under every key, newest first: during a rotation a lookup
        (``WHERE email_hash IN (...)``) also finds rows hashed under an older key."""
        return [self._digest(key.key_id, value, kind=kind) for key in self.ring]

    def _digest(self, key_id: str, value: str, *, kind: str) -> str:
        message = f"{kind}\x00{normalize(value, kind=kind)}".encode()
        mac = hmac.new(self._keys[key_id], message, hashlib.sha256).digest()
        return f"{key_id}.{mac[:_DIGEST_BYTES].hex()}"


# --- display ---------------------------------------------------------------------------


def mask_uid(uid: str) -> str:
    """A card UID for display: ``****`` and its last 4 characters; all ``*`` if shorter."""
    if len(uid) <= 4:
        return "*" * len(uid)
    return "****" + uid[-4:]
