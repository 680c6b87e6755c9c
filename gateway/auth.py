"""Who is calling: API keys (constant-time compare), key ids, admin keys, and the signed `?token=` of events URLs.

A key id (`GenAIOwner`) is the first 12 hex of sha256(key): it names the owner in visibility without storing the key.
The events token is signed with a key derived from the server secret (runtime/server_secret.py), never with the
API key, so a leaked `events_url` gives nothing to test guesses of a key against. A token stays valid, for its job
only, until it expires (GENAI_FLOW_EVENT_TOKEN_TTL_S, at most 10 minutes): a browser's EventSource reconnects
with the same URL. With no keys configured (loopback only) the caller is the trusted local user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from runtime.server_secret import Signer

LOCAL_OWNER = "local"  # the caller when no keys are configured (loopback only): a trusted local user, like the CLI
MIN_KEY_CHARS = 24  # shorter keys are refused on a non-loopback address (a warning on loopback)
_TOKEN = re.compile(r"^([0-9a-f]{12}|local)\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def key_id(key: str) -> str:
    """The `GenAIOwner` of a key: first 12 hex of its sha256 (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its key id, and whether it is an admin key (every owner's jobs and payloads)."""

    key_id: str
    admin: bool = False

    @property
    def trusted(self) -> bool:
        """True for the local user of a gateway without keys: sees every job, like the CLI."""
        return self.key_id == LOCAL_OWNER

    @property
    def sees_all(self) -> bool:
        """True when this caller may read every owner's jobs and decode every payload."""
        return self.trusted or self.admin


class KeyRing:
    """The configured API keys; `match` compares against every key in constant time."""

    def __init__(self, keys: Sequence[str], admin_keys: Sequence[str] = ()) -> None:
        # Each key with its id, hashed once here rather than on every request.
        self._keys = [(k.encode(), key_id(k)) for k in keys if k]
        self._ids = {owner for _, owner in self._keys}
        self._admins = {key_id(k) for k in admin_keys if k}

    @property
    def open(self) -> bool:
        """True when no key is configured (allowed on loopback only)."""
        return not self._keys

    def match(self, presented: str | None) -> Caller | None:
        """The caller holding `presented`, or None; every key is compared, so timing reveals nothing."""
        if self.open:
            return Caller(LOCAL_OWNER)
        if not presented:
            return None
        candidate = presented.encode()
        found: str | None = None
        for raw, owner in self._keys:
            if hmac.compare_digest(raw, candidate):
                found = owner
        return self.by_id(found) if found is not None else None

    def by_id(self, owner: str) -> Caller | None:
        """The caller with this key id while its key is configured (tokens and sessions die with their key)."""
        if self.open:
            return Caller(LOCAL_OWNER) if owner == LOCAL_OWNER else None
        return Caller(owner, owner in self._admins) if owner in self._ids else None


def bearer_or_basic(authorization: str | None) -> str | None:
    """The key from `Authorization: Bearer <key>`, or the password of Basic auth (SNS cannot send a bearer)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _message(owner: str, job_id: str, expires: int) -> str:
    return f"events\n{owner}\n{job_id}\n{expires}"


def events_token(signer: Signer, caller: Caller, job_id: str, ttl_s: int, now: float | None = None) -> str:
    """`<key id>.<expiry>.<hmac>`: lets a browser's EventSource (no headers) read one job's events for ttl_s."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{caller.key_id}.{expires}.{signer.sign(_message(caller.key_id, job_id, expires))}"


def check_events_token(
    signer: Signer, ring: KeyRing, token: str, job_id: str, now: float | None = None
) -> Caller | None:
    """The caller a valid, unexpired token for this job was issued to; None for anything else, however malformed."""
    parsed = _TOKEN.match(token)
    if parsed is None:
        return None
    owner, expires_s, signature = parsed.groups()
    expires = int(expires_s)  # ASCII digits only: the pattern admits no other
    if expires < (time.time() if now is None else now) or not signer.verify(
        _message(owner, job_id, expires), signature
    ):
        return None
    return ring.by_id(owner)
