"""Payload encryption keys from `GENAI_FLOW_ENCRYPTION_KEYS` (CONTRACTS.md): `id:<base64 of 32 bytes>`, comma list.

The first key encrypts, all of them decrypt (so keys can be rotated); unset means no encryption. This module is
the one parser (settings, doctor and the payload codec all use it).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

ENV = "GENAI_FLOW_ENCRYPTION_KEYS"
KEY_BYTES = 32  # AES-256
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
GENERATE_HINT = (
    "generate one with: python -c \"import base64, os; print('k1:' + base64.b64encode(os.urandom(32)).decode())\""
)


class KeyringError(ValueError):
    """The key list is malformed; the message names the entry and what is wrong with it."""


class DecryptionError(ValueError):
    """Data this process cannot decrypt (a key it lacks, or changed data); the message names the key id."""


@dataclass(frozen=True)
class EncryptionKey:
    """One key: its id (stored with each encrypted payload) and 32 secret bytes."""

    key_id: str
    secret: bytes

    def __repr__(self) -> str:
        return f"EncryptionKey({self.key_id!r}, <{len(self.secret)} bytes>)"


def parse_keys(value: str | None) -> list[EncryptionKey]:
    """Parse the comma list; an empty or unset value gives no keys. Raises KeyringError naming the bad entry."""
    keys: list[EncryptionKey] = []
    for position, entry in enumerate((part.strip() for part in (value or "").split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _ID.match(key_id):
            raise KeyringError(f"{ENV} entry {position} has no id: expected id:<base64 of 32 bytes> with an id of "
                               "letters, digits, '.', '_' or '-'")  # fmt: skip
        try:
            secret = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{ENV} key {key_id!r}: not valid base64") from None
        if len(secret) != KEY_BYTES:
            raise KeyringError(f"{ENV} key {key_id!r}: decodes to {len(secret)} bytes, needs {KEY_BYTES}")
        if any(k.key_id == key_id for k in keys):
            raise KeyringError(f"{ENV} key id {key_id!r} appears twice")
        keys.append(EncryptionKey(key_id, secret))
    return keys


def keys_from_env() -> list[EncryptionKey]:
    """The configured keys (first encrypts); raises KeyringError when the variable is malformed."""
    return parse_keys(os.environ.get(ENV))
