"""Personal data at rest: field encryption, blind indexes, the key ring and its file, PINs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import stat
import sys
from pathlib import Path

import argon2
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from csms.security import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    hash_password,
    hash_pin,
    password_needs_rehash,
    pin_needs_rehash,
    validate_pin,
    verify_password,
    verify_pin,
)
from storage.crypto import (
    BlindIndex,
    DataKey,
    DecryptionError,
    FieldCipher,
    KeyRing,
    KeyRingError,
    load_key_ring,
    mask_uid,
    normalize,
    save_key_ring,
)
from tests.fakes.legacy_hashes import legacy_scrypt_password_hash, legacy_scrypt_pin_hash

OLD = DataKey("old", bytes(range(32)))
NEW = DataKey("new", bytes(range(100, 132)))
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _flip_bit(token: str, index: int) -> str:
    """``token`` with one bit of byte ``index`` of its sealed data flipped."""
    key_id, data = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    raw[index] ^= 0x01
    return f"{key_id}.{_b64(bytes(raw))}"


# --- field encryption ------------------------------------------------------------------


def test_encrypted_value_decrypts_to_the_plaintext() -> None:
    cipher = FieldCipher(KeyRing([NEW]))
    token = cipher.encrypt("Åsa Öberg <asa@example.com>", field="customers.name")
    assert "asa" not in token and "Åsa" not in token
    assert cipher.decrypt(token, field="customers.name") == "Åsa Öberg <asa@example.com>"


def test_token_names_the_newest_key() -> None:
    cipher = FieldCipher(KeyRing([NEW, OLD]))
    token = cipher.encrypt("x", field="f")
    assert token.startswith("new.")
    assert FieldCipher.key_id_of(token) == "new"


def test_same_plaintext_encrypts_to_different_tokens() -> None:
    cipher = FieldCipher(KeyRing([NEW]))
    tokens = {cipher.encrypt("asa@example.com", field="customers.email") for _ in range(20)}
    assert len(tokens) == 20
    nonces = {base64.urlsafe_b64decode(t.split(".")[1] + "==")[:12] for t in tokens}
    assert len(nonces) == 20


def test_tampered_ciphertext_does_not_decrypt() -> None:
    cipher = FieldCipher(KeyRing([NEW]))
    token = cipher.encrypt("asa@example.com", field="customers.email")
    for index in (0, 12, -1):  # nonce, ciphertext, tag
        with pytest.raises(DecryptionError, match="altered"):
            cipher.decrypt(_flip_bit(token, index), field="customers.email")


def test_token_with_a_non_canonical_encoding_does_not_decrypt() -> None:
    """15 plaintext bytes seal to 43 bytes: the last base64 character has 4 spare bits."""
    cipher = FieldCipher(KeyRing([NEW]))
    token = cipher.encrypt("asa@example.com", field="customers.email")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = alphabet[alphabet.index(token[-1]) ^ 0x01]
    with pytest.raises(DecryptionError, match="malformed"):
        cipher.decrypt(token[:-1] + spare, field="customers.email")


def test_ciphertext_copied_to_another_field_does_not_decrypt() -> None:
    cipher = FieldCipher(KeyRing([NEW]))
    token = cipher.encrypt("+46 70 123 45 67", field="customers.phone")
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt(token, field="customers.email")
    assert "another field" in str(caught.value)
    assert "123" not in str(caught.value)


def test_value_under_an_older_key_still_decrypts_after_a_new_key_is_added() -> None:
    before = FieldCipher(KeyRing([OLD]))
    token = before.encrypt("04A1B2C3D4", field="cards.uid")
    after = FieldCipher(KeyRing([OLD]).with_new_key(NEW))
    assert after.decrypt(token, field="cards.uid") == "04A1B2C3D4"
    assert after.encrypt("04A1B2C3D4", field="cards.uid").startswith("new.")


def test_value_under_a_retired_key_raises_naming_the_key() -> None:
    token = FieldCipher(KeyRing([NEW, OLD])).encrypt("secret", field="f")
    token_old = FieldCipher(KeyRing([OLD])).encrypt("secret", field="f")
    retired = FieldCipher(KeyRing([NEW, OLD]).without("old"))
    assert retired.decrypt(token, field="f") == "secret"
    with pytest.raises(DecryptionError) as caught:
        retired.decrypt(token_old, field="f")
    message = str(caught.value)
    assert "'old'" in message and "CSMS_DATA_KEYS" in message and "data.keys" in message
    assert "secret" not in message


def test_token_under_a_key_of_another_ring_does_not_decrypt() -> None:
    token = FieldCipher(KeyRing([DataKey("new", bytes(32))])).encrypt("x", field="f")
    with pytest.raises(DecryptionError):
        FieldCipher(KeyRing([NEW])).decrypt(token, field="f")


@pytest.mark.parametrize("token", ["", "plaintext", "new.", "new.AAAA", "new.!!!!", "b@d.AAAA"])
def test_malformed_token_raises_decryption_error(token: str) -> None:
    with pytest.raises(DecryptionError, match="cannot decrypt f"):
        FieldCipher(KeyRing([NEW])).decrypt(token, field="f")


def test_aes_key_is_derived_from_the_data_key_not_the_raw_key() -> None:
    token = FieldCipher(KeyRing([NEW])).encrypt("x", field="f")
    raw = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    with pytest.raises(InvalidTag):
        AESGCM(NEW.key).decrypt(raw[:12], raw[12:], b"f")
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"csms field encryption v1"
    ).derive(NEW.key)
    assert AESGCM(derived).decrypt(raw[:12], raw[12:], b"f") == b"x"


def test_optional_variants_pass_none_through() -> None:
    cipher = FieldCipher(KeyRing([NEW]))
    assert cipher.encrypt_optional(None, field="f") is None
    assert cipher.decrypt_optional(None, field="f") is None
    token = cipher.encrypt_optional("x", field="f")
    assert token is not None and cipher.decrypt_optional(token, field="f") == "x"


def test_needs_rotation_is_true_only_for_values_under_an_older_key() -> None:
    old_token = FieldCipher(KeyRing([OLD])).encrypt("x", field="f")
    cipher = FieldCipher(KeyRing([NEW, OLD]))
    assert cipher.needs_rotation(old_token)
    assert not cipher.needs_rotation(cipher.encrypt("x", field="f"))


# --- the key ring ----------------------------------------------------------------------


def test_key_ring_format_round_trips_through_parse() -> None:
    ring = KeyRing([NEW, OLD])
    text = ring.format()
    assert text == f"new:{_b64(NEW.key)},old:{_b64(OLD.key)}"
    assert KeyRing.parse(text) == ring


def test_parse_ignores_whitespace_and_accepts_padding() -> None:
    padded = base64.urlsafe_b64encode(NEW.key).decode()
    assert padded.endswith("=")
    ring = KeyRing.parse(f"  new:{padded} ,\n old:{_b64(OLD.key)}\n")
    assert ring.key_ids == ["new", "old"]
    assert ring.newest == NEW and ring.get("old") == OLD


def _parse_error(text: str) -> str:
    with pytest.raises(KeyRingError) as caught:
        KeyRing.parse(text)
    assert "KEYID:KEY" in str(caught.value)  # says what the format is
    return str(caught.value)


def test_parse_rejects_a_key_that_is_not_base64url() -> None:
    key_text = _b64(NEW.key)[:-4] + "+/$%"
    message = _parse_error(f"k1:{key_text}")
    assert "base64url" in message and "'k1'" in message
    assert key_text not in message and key_text[:10] not in message


def test_parse_rejects_a_short_key_without_echoing_it() -> None:
    key_text = _b64(bytes(range(16)))
    message = _parse_error(f"k1:{key_text}")
    assert "16 bytes" in message and "'k1'" in message
    assert key_text not in message and key_text[:10] not in message


def test_parse_rejects_a_duplicate_key_id() -> None:
    text = f"k1:{_b64(NEW.key)},k1:{_b64(OLD.key)}"
    message = _parse_error(text)
    assert "'k1'" in message and "twice" in message
    assert _b64(NEW.key) not in message and _b64(OLD.key) not in message


@pytest.mark.parametrize("text", ["", "   ", ","])
def test_parse_rejects_an_empty_key_list(text: str) -> None:
    message = _parse_error(text)
    assert "no data keys" in message or "empty" in message


@pytest.mark.parametrize("key_id", ["k.1", "k 1", "ключ", "", "k" * 33])
def test_parse_rejects_a_bad_key_id(key_id: str) -> None:
    key_text = _b64(NEW.key)
    message = _parse_error(f"{key_id}:{key_text}")
    assert "key id" in message
    assert key_text not in message


def test_parse_rejects_a_bare_key_without_echoing_it() -> None:
    key_text = _b64(NEW.key)
    message = _parse_error(key_text)
    assert key_text not in message and key_text[:10] not in message


def test_data_key_repr_hides_the_key_bytes() -> None:
    assert repr(NEW.key) not in repr(KeyRing([NEW]))
    assert "new" in repr(KeyRing([NEW]))


def test_generated_keys_are_random_with_a_dated_id() -> None:
    a, b = KeyRing.generate(), KeyRing.generate()
    assert len(a.key) == 32 and a.key != b.key and a.key_id != b.key_id
    assert a.key_id.startswith("k20") and len(a.key_id) == len("k20261122a3f9")
    assert KeyRing.generate("custom").key_id == "custom"


def test_key_ring_without_removes_a_key_but_never_the_last_or_an_unknown_one() -> None:
    ring = KeyRing([NEW, OLD])
    assert ring.without("old").key_ids == ["new"]
    with pytest.raises(KeyRingError, match="only data key"):
        ring.without("old").without("new")
    with pytest.raises(KeyRingError, match="'gone'"):
        ring.without("gone")


def test_with_new_key_prepends_and_refuses_a_duplicate_id() -> None:
    assert KeyRing([OLD]).with_new_key(NEW).key_ids == ["new", "old"]
    with pytest.raises(KeyRingError, match="twice"):
        KeyRing([OLD]).with_new_key(DataKey("old", NEW.key))


# --- the key file ----------------------------------------------------------------------


@POSIX_ONLY
def test_first_load_generates_a_private_key_file_and_the_second_reads_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = load_key_ring(env_value=None, home=home)
    path = home / "data.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == first.format() + "\n"
    inode = path.stat().st_ino
    second = load_key_ring(env_value="", home=home)
    assert second == first and len(second) == 1
    assert path.stat().st_ino == inode
    assert [p.name for p in home.iterdir()] == ["data.keys"]  # no temporary file left


def test_environment_value_wins_over_the_key_file(tmp_path: Path) -> None:
    save_key_ring(KeyRing([OLD]), tmp_path)
    assert load_key_ring(env_value=KeyRing([NEW]).format(), home=tmp_path) == KeyRing([NEW])


def test_environment_value_wins_without_creating_a_key_file(tmp_path: Path) -> None:
    load_key_ring(env_value=KeyRing([NEW]).format(), home=tmp_path)
    assert not (tmp_path / "data.keys").exists()


def test_malformed_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match=r"^CSMS_DATA_KEYS: "):
        load_key_ring(env_value="k1:short", home=tmp_path)


@POSIX_ONLY
def test_saved_key_ring_replaces_the_file_and_loads_back(tmp_path: Path) -> None:
    load_key_ring(env_value=None, home=tmp_path)
    rotated = KeyRing([NEW, OLD])
    path = save_key_ring(rotated, tmp_path)
    assert path == tmp_path / "data.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_ring(env_value=None, home=tmp_path) == rotated


@POSIX_ONLY
def test_key_file_readable_by_others_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_key_ring(KeyRing([NEW]), tmp_path)
    os.chmod(tmp_path / "data.keys", 0o644)
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        assert load_key_ring(env_value=None, home=tmp_path) == KeyRing([NEW])
    assert any("chmod 600" in r.getMessage() for r in caplog.records)


@POSIX_ONLY
def test_private_key_file_loads_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_key_ring(KeyRing([NEW]), tmp_path)
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        load_key_ring(env_value=None, home=tmp_path)
    assert caplog.records == []


def test_malformed_key_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "data.keys").write_text("nonsense\n")
    with pytest.raises(KeyRingError, match=r"data\.keys"):
        load_key_ring(env_value=None, home=tmp_path)


# --- blind indexes ---------------------------------------------------------------------


def test_blind_index_is_deterministic_and_names_the_key() -> None:
    index = BlindIndex(KeyRing([NEW, OLD]))
    digest = index.digest("asa@example.com", kind="email")
    assert digest == BlindIndex(KeyRing([NEW])).digest("asa@example.com", kind="email")
    key_id, hex_part = digest.split(".")
    assert key_id == "new" and len(bytes.fromhex(hex_part)) == 16


def test_blind_index_of_an_email_ignores_case_and_surrounding_space() -> None:
    index = BlindIndex(KeyRing([NEW]))
    assert index.digest(" Asa@Example.COM ", kind="email") == index.digest(
        "asa@example.com", kind="email"
    )
    assert index.digest("asa@example.com", kind="email") != index.digest(
        "asb@example.com", kind="email"
    )


def test_blind_index_of_a_phone_number_ignores_formatting() -> None:
    index = BlindIndex(KeyRing([NEW]))
    expected = index.digest("+46701234567", kind="phone")
    for formatted in ("+46 70-123 45 67", "+46 (70) 123.45.67", " +46701234567 "):
        assert index.digest(formatted, kind="phone") == expected
    assert index.digest("46701234567", kind="phone") != expected  # the + is kept


def test_blind_index_of_a_card_uid_ignores_case() -> None:
    index = BlindIndex(KeyRing([NEW]))
    assert index.digest("04a1b2c3 ", kind="uid") == index.digest("04A1B2C3", kind="uid")


def test_normalize_by_kind() -> None:
    assert normalize("  Asa@Example.COM ", kind="email") == "asa@example.com"
    assert normalize("Straße@x.de", kind="email") == "strasse@x.de"
    assert normalize(" +46 (70) 123-45.67 ", kind="phone") == "+46701234567"
    assert normalize("0046 70 123", kind="phone") == "004670123"
    assert normalize(" 04a1b2 ", kind="uid") == "04A1B2"
    assert normalize(" Some Name ", kind="name") == "Some Name"


def test_blind_index_of_equal_strings_differs_by_kind() -> None:
    index = BlindIndex(KeyRing([NEW]))
    assert index.digest("ABC123", kind="uid") != index.digest("ABC123", kind="id_token")


def test_blind_index_candidates_include_digests_under_older_keys() -> None:
    old_digest = BlindIndex(KeyRing([OLD])).digest("Asa@example.com", kind="email")
    ring = KeyRing([NEW, OLD])
    candidates = BlindIndex(ring).candidates("asa@EXAMPLE.com", kind="email")
    assert candidates == [BlindIndex(ring).digest("asa@example.com", kind="email"), old_digest]
    assert candidates[0].startswith("new.") and candidates[1].startswith("old.")


def test_blind_index_key_is_separate_from_the_encryption_key() -> None:
    digest = BlindIndex(KeyRing([NEW])).digest("asa@example.com", kind="email")
    hex_part = digest.split(".")[1]
    message = b"email\x00asa@example.com"
    encryption_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"csms field encryption v1"
    ).derive(NEW.key)
    index_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"csms blind index v1"
    ).derive(NEW.key)
    assert hex_part == hmac.new(index_key, message, hashlib.sha256).hexdigest()[:32]
    for other in (
        hmac.new(encryption_key, message, hashlib.sha256).hexdigest(),
        hmac.new(NEW.key, message, hashlib.sha256).hexdigest(),
        hashlib.sha256(message).hexdigest(),
        hashlib.sha256(b"asa@example.com").hexdigest(),
    ):
        assert hex_part != other[:32]


# --- display ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "masked"),
    [
        ("04A1B2C3D4E5F6", "****E5F6"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_uid_shows_only_the_last_four_characters(uid: str, masked: str) -> None:
    assert mask_uid(uid) == masked


# --- PINs ------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["2580", "1357", "90210", "13572468", "1243", "7890"])
def test_acceptable_pins_are_accepted(pin: str) -> None:
    assert validate_pin(pin) is None


@pytest.mark.parametrize(
    ("pin", "reason"),
    [
        ("123", "4 to 8 digits"),
        ("123456789", "4 to 8 digits"),
        ("12a4", "4 to 8 digits"),
        ("１３５７", "4 to 8 digits"),  # full-width digits are not ASCII
        (" 2580", "4 to 8 digits"),
        ("0000", "repeated"),
        ("99999999", "repeated"),
        ("1234", "consecutive"),
        ("4321", "consecutive"),
        ("12345678", "consecutive"),
        ("98765", "consecutive"),
    ],
)
def test_unacceptable_pins_are_refused_with_a_reason(pin: str, reason: str) -> None:
    problem = validate_pin(pin)
    assert problem is not None and reason in problem


def test_hashed_pin_verifies_and_a_wrong_pin_does_not() -> None:
    stored = hash_pin("2580")
    assert stored.startswith("pin$argon2id$v=19$m=19456,t=2,p=1$") and "2580" not in stored
    assert verify_pin("2580", stored)
    assert not verify_pin("2581", stored)
    assert hash_pin("2580") != stored  # fresh salt


def test_hash_pin_refuses_an_unacceptable_pin() -> None:
    with pytest.raises(ValueError, match="consecutive"):
        hash_pin("1234")


def test_pin_and_password_hashes_are_not_interchangeable() -> None:
    assert not verify_pin("2580", hash_password("2580"))
    assert not verify_password("2580", hash_pin("2580"))


@pytest.mark.parametrize(
    "stored",
    ["", "scrypt-pin$x", "scrypt-pin$a$b$c$d$e", "plain", "pin$argon2id$v=19$broken", "pin$"],
)
def test_verify_pin_rejects_a_malformed_hash(stored: str) -> None:
    assert not verify_pin("2580", stored)


@pytest.mark.parametrize("stored", ["", "$argon2id$v=19$m=19456,t=2,p=1$xx$yy", "scrypt$1$2"])
def test_verify_password_rejects_a_malformed_hash(stored: str) -> None:
    assert not verify_password("correct horse battery", stored)


def test_password_hashes_meet_the_owasp_argon2id_minimum() -> None:
    """OWASP Password Storage Cheat Sheet: argon2id with m=19 MiB (19456 KiB), t=2, p=1."""
    assert (ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM) == (19456, 2, 1)
    stored = hash_password("correct horse battery")
    params = argon2.extract_parameters(stored)
    assert params.type is argon2.Type.ID
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19456, 2, 1)
    assert params.salt_len == 16 and params.hash_len == 32
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery") != stored  # fresh salt
    assert not password_needs_rehash(stored)


def test_old_scrypt_hashes_still_verify_and_ask_to_be_rehashed() -> None:
    password = legacy_scrypt_password_hash("correct horse battery")
    pin = legacy_scrypt_pin_hash("2580")
    assert verify_password("correct horse battery", password)
    assert not verify_password("correct horse batterY", password)
    assert verify_pin("2580", pin) and not verify_pin("2581", pin)
    assert password_needs_rehash(password) and pin_needs_rehash(pin)
    assert not pin_needs_rehash(hash_pin("2580"))


def test_a_cheaper_argon2id_hash_asks_to_be_rehashed() -> None:
    cheap = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    stored = cheap.hash("correct horse battery")
    assert verify_password("correct horse battery", stored)
    assert password_needs_rehash(stored)
    assert pin_needs_rehash("pin" + cheap.hash("2580"))


def test_old_pin_and_password_hashes_are_not_interchangeable_either() -> None:
    assert not verify_password("2580", legacy_scrypt_pin_hash("2580"))
    assert not verify_pin("2580", legacy_scrypt_password_hash("2580"))
    # A PIN hash with its prefix cut off is a password hash of a 4-8 digit secret: it is the
    # prefix, not the digest, that keeps them apart, and verify_password never strips it.
    assert not verify_password("2580", "pin" + hash_password("2580"))
