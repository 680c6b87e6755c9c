"""Values at rest: what genai-flow keeps outside Temporal, encrypted with GENAI_FLOW_ENCRYPTION_KEYS when set.

Every writer of prompts, answers or document text outside Temporal seals it here first: stored step results and
the cross-job cache (`activities/idempotency.py`), progress events (`activities/events.py`, token events
included), dead-letter entries (`runtime/deadletters.py`), agent transcripts (`activities/agent_chat.py`) and
claim-check objects (`runtime/claims.py`). Chroma's chunk text is the one exception: the index must search it.
A sealed value is `gfx1:<key id>:<base64url(nonce + AES-256-GCM ciphertext)>` (bytes alike, unencoded); the place
it is kept (the Redis key, the claim's URI) is the associated data, so a value cannot be moved to another place.
The first key seals, every listed key opens (rotation, as for payloads). Values written before encryption was
turned on open unchanged; a value sealed with a key this process lacks fails with a message naming that key.
Sealing happens in-process: the Redis commands and their round trips are the same as without encryption.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runtime import keyring

MARK = "gfx1:"
_MARK_BYTES = MARK.encode()
NONCE_BYTES = 12


class AtRestKeyError(keyring.DecryptionError):
    """A value at rest this process cannot open: sealed with a key it lacks, or changed."""


class AtRest:
    """Seals and opens values at rest; without keys both are the identity."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.key_id = next(iter(keys), None)
        self._ciphers = {kid: AESGCM(secret) for kid, secret in keys.items()}

    @property
    def enabled(self) -> bool:
        """True when values are sealed (GENAI_FLOW_ENCRYPTION_KEYS is set)."""
        return self.key_id is not None

    def seal_bytes(self, data: bytes, where: str) -> bytes:
        """`data` sealed for the place `where` (unchanged without keys)."""
        if self.key_id is None:
            return data
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, data, where.encode())
        return _MARK_BYTES + self.key_id.encode() + b":" + nonce + sealed

    def open_bytes(self, data: bytes, where: str) -> bytes:
        """The plain bytes of a value read from `where` (values never sealed pass unchanged)."""
        if not data.startswith(_MARK_BYTES):
            return data
        kid, sep, body = data[len(_MARK_BYTES) :].partition(b":")
        if not sep:
            raise AtRestKeyError(f"a sealed value at {where} is malformed")
        return self._open(kid.decode(errors="replace"), body, where)

    def seal(self, text: str, where: str) -> str:
        """`text` sealed for the place `where`, as text (unchanged without keys)."""
        if self.key_id is None:
            return text
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, text.encode(), where.encode())
        return f"{MARK}{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, value: str | bytes, where: str) -> str:
        """The plain text of a value read from `where` (values never sealed pass unchanged)."""
        text = value.decode() if isinstance(value, bytes) else value
        if not text.startswith(MARK):
            return text
        kid, sep, body = text[len(MARK) :].partition(":")
        try:
            raw = base64.urlsafe_b64decode(body)
        except (binascii.Error, ValueError):
            raw = b""
        if not sep or not raw:
            raise AtRestKeyError(f"a sealed value at {where} is malformed")
        return self._open(kid, raw, where).decode()

    def _open(self, kid: str, body: bytes, where: str) -> bytes:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise AtRestKeyError(
                f"a value at {where} was encrypted with key {kid!r}, which this process does not have: "
                f"add {kid!r} to {keyring.ENV} (after the key that encrypts)"
            )
        try:
            return cipher.decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], where.encode())
        except InvalidTag:
            raise AtRestKeyError(f"a value at {where} failed authentication under key {kid!r}") from None


PLAIN = AtRest({})


@lru_cache(maxsize=8)
def _for_entries(entries: tuple[str, ...]) -> AtRest:
    keys = keyring.parse_keys(",".join(entries))
    return AtRest({k.key_id: k.secret for k in keys})


def at_rest_for(entries: Sequence[str]) -> AtRest:
    """The sealer for GENAI_FLOW_ENCRYPTION_KEYS entries (`settings.encryption_entries`); PLAIN when unset."""
    return _for_entries(tuple(entries)) if entries else PLAIN
