"""Payload encryption: an AES-256-GCM `PayloadCodec` keyed by `GENAI_FLOW_ENCRYPTION_KEYS` (`id:<base64 32 bytes>,…`).

Every process (client, CLI, gateway, workers) applies it in its Temporal data converter, so prompts, answers and
documents never reach the Temporal server (or its database) in plaintext. The first key encrypts; every listed key
decrypts, so keys rotate by putting a new one first and keeping the old ones until their histories expire. Each
payload records its key id in its metadata; the key id is also the GCM associated data, so a payload cannot be
passed off as encrypted under another key. Unset: no encryption. The gateway serves `/codec/encode|decode` (the
Temporal remote codec protocol) so the Web UI and `temporal --codec-endpoint` can show decrypted payloads.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

from runtime import keyring

ENCODING = b"binary/encrypted"
KEY_ID_FIELD = "encryption-key-id"
NONCE_BYTES = 12
SETTING = keyring.ENV
# A malformed key list (the message names the setting, never a key).
EncryptionKeyError = keyring.KeyringError


class PayloadDecryptionError(ValueError):
    """An encrypted payload that no configured key opens (unknown key id, or tampered data)."""


def parse_keys(entries: Sequence[str]) -> dict[str, bytes]:
    """`["id:<base64 of 32 bytes>", …]` → {id: key}, in order (the first one encrypts); one parser: runtime.keyring."""
    return {key.key_id: key.secret for key in keyring.parse_keys(",".join(entries))}


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload; payloads not encrypted by us pass through on decode."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise EncryptionKeyError(f"{SETTING}: no keys")
        self.key_id = next(iter(keys))
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the first key."""
        cipher = self._ciphers[self.key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
            out.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID_FIELD: self.key_id.encode()}, data=nonce + sealed)
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt our payloads with the key their metadata names; leave others as they are."""
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_FIELD, b"").decode(errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadDecryptionError(f"payload encrypted with key {key_id!r}, which is not configured")
            try:
                plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise PayloadDecryptionError(f"payload under key {key_id!r} failed authentication") from None
            out.append(Payload.FromString(plain))
        return out


def codec_for(entries: Sequence[str]) -> EncryptionCodec | None:
    """The codec for GENAI_FLOW_ENCRYPTION_KEYS, or None when unset."""
    return EncryptionCodec(parse_keys(entries)) if entries else None


def with_encryption(converter: DataConverter, entries: Sequence[str]) -> DataConverter:
    """`converter` with the encryption codec added (composes with any external storage it already has)."""
    codec = codec_for(entries)
    return dataclasses.replace(converter, payload_codec=codec) if codec else converter
