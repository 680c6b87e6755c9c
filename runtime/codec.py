"""Payload encryption: an AES-256-GCM `PayloadCodec` keyed by `GENAI_FLOW_ENCRYPTION_KEYS` (`id:<base64 32 bytes>,…`).

Every process (client, CLI, gateway, workers) applies it in its Temporal data converter, so prompts, answers and
documents never reach the Temporal server (or its database) in plaintext. The first key encrypts; every listed key
decrypts, so keys rotate by putting a new one first and keeping the old ones until their histories expire. Each
payload records its key id in its metadata, and the id of the job it belongs to (the workflow id the SDK's
serialization context names) or, for payloads sealed at `/codec/encode`, the owner's key id; all of them are the
GCM associated data, so a payload cannot be passed off as another key's or another job's. The gateway's
`/codec/decode` decodes a payload only for that job's owner (or an admin key). Unset: no encryption.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec, SerializationContext, WithSerializationContext

from runtime import keyring

ENCODING = b"binary/encrypted"
KEY_ID_FIELD = "encryption-key-id"
JOB_FIELD = "genai-flow-job"  # the workflow id a payload belongs to
OWNER_FIELD = "genai-flow-owner"  # the key id a payload sealed at /codec/encode belongs to
NONCE_BYTES = 12
SETTING = keyring.ENV
# A malformed key list (the message names the setting, never a key).
EncryptionKeyError = keyring.KeyringError


class PayloadDecryptionError(keyring.DecryptionError):
    """An encrypted payload that no configured key opens (unknown key id, or tampered data)."""


def parse_keys(entries: Sequence[str]) -> dict[str, bytes]:
    """`["id:<base64 of 32 bytes>", …]` → {id: key}, in order (the first one encrypts); one parser: runtime.keyring."""
    return {key.key_id: key.secret for key in keyring.parse_keys(",".join(entries))}


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over each whole serialized payload; payloads not encrypted by us pass through on decode."""

    def __init__(self, keys: dict[str, bytes], job_id: str | None = None, owner: str | None = None) -> None:
        if not keys:
            raise EncryptionKeyError(f"{SETTING}: no keys")
        self.key_id = next(iter(keys))
        self._keys = keys
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.job_id = job_id
        self.owner = owner

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """This codec bound to the workflow the payloads belong to (the SDK calls it per workflow and activity)."""
        job_id = getattr(context, "workflow_id", None) or None
        return self if job_id == self.job_id else self.bound(job_id=job_id)

    def bound(self, job_id: str | None = None, owner: str | None = None) -> EncryptionCodec:
        """A copy that seals payloads for this job or owner."""
        codec = EncryptionCodec.__new__(EncryptionCodec)
        codec.key_id, codec._keys, codec._ciphers = self.key_id, self._keys, self._ciphers
        codec.job_id, codec.owner = job_id, owner
        return codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the first key, bound to this codec's job or owner."""
        cipher = self._ciphers[self.key_id]
        metadata = {"encoding": ENCODING, KEY_ID_FIELD: self.key_id.encode()}
        if self.job_id:
            metadata[JOB_FIELD] = self.job_id.encode()
        if self.owner:
            metadata[OWNER_FIELD] = self.owner.encode()
        aad = _associated(self.key_id, self.job_id, self.owner)
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            out.append(Payload(metadata=metadata, data=nonce + sealed))
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
                raise PayloadDecryptionError(
                    f"payload encrypted with key {key_id!r}, which is not configured: add it to {SETTING} "
                    "(after the key that encrypts)"
                )
            job_id, owner = binding(payload)
            try:
                plain = cipher.decrypt(
                    payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], _associated(key_id, job_id, owner)
                )
            except InvalidTag:
                raise PayloadDecryptionError(f"payload under key {key_id!r} failed authentication") from None
            out.append(Payload.FromString(plain))
        return out


def _associated(key_id: str, job_id: str | None, owner: str | None) -> bytes:
    # The key id alone for payloads sealed without a binding (before jobs were bound, or outside any workflow).
    parts = [key_id] + ([f"job={job_id}"] if job_id else []) + ([f"owner={owner}"] if owner else [])
    return "\n".join(parts).encode()


def is_encrypted(payload: Payload) -> bool:
    """True for a payload this codec sealed."""
    return payload.metadata.get("encoding") == ENCODING


def binding(payload: Payload) -> tuple[str | None, str | None]:
    """The job id and owner key id a sealed payload is bound to (authenticated when it is decrypted)."""

    def field(name: str) -> str | None:
        raw = payload.metadata.get(name)
        return raw.decode(errors="replace") if raw else None

    return field(JOB_FIELD), field(OWNER_FIELD)


def codec_for(entries: Sequence[str]) -> EncryptionCodec | None:
    """The codec for GENAI_FLOW_ENCRYPTION_KEYS, or None when unset."""
    return EncryptionCodec(parse_keys(entries)) if entries else None


def with_encryption(converter: DataConverter, entries: Sequence[str]) -> DataConverter:
    """`converter` with the encryption codec added (composes with any external storage it already has)."""
    codec = codec_for(entries)
    return dataclasses.replace(converter, payload_codec=codec) if codec else converter
