"""Who is calling: API keys (constant-time compare), key ids, and the signed short-lived `?token=` of events URLs.

A key id (`GenAIOwner`) is the first 12 hex of sha256(key): it names the owner in visibility without storing the key.
The events token is an HMAC keyed by the owner's own API key, so any gateway replica that knows the keys can check
it and no extra shared secret exists. With no keys configured (loopback only) the caller is the trusted local user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

LOCAL_OWNER = "local"  # the caller when no keys are configured (loopback only): a trusted local user, like the CLI


def key_id(key: str) -> str:
    """The `GenAIOwner` of a key: first 12 hex of its sha256 (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its key id and the key (kept in memory only, to sign its events tokens)."""

    key_id: str
    key: str = ""

    @property
    def trusted(self) -> bool:
        """True for the local user of a gateway without keys: sees every job, like the CLI."""
        return self.key_id == LOCAL_OWNER


class KeyRing:
    """The configured API keys; `match` compares against every key in constant time."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = [(k, k.encode()) for k in keys if k]
        self._by_id = {key_id(k): k for k, _ in self._keys}
        # Without keys, events tokens are signed with a per-process secret (a loopback gateway is one process).
        self._local_secret = secrets.token_urlsafe(32)

    @property
    def open(self) -> bool:
        """True when no key is configured (allowed on loopback only)."""
        return not self._keys

    def match(self, presented: str | None) -> Caller | None:
        """The caller holding `presented`, or None; every key is compared, so timing reveals nothing."""
        if self.open:
            return Caller(LOCAL_OWNER, self._local_secret)
        if not presented:
            return None
        candidate = presented.encode()
        found: str | None = None
        for key, raw in self._keys:
            if hmac.compare_digest(raw, candidate):
                found = key
        return Caller(key_id(found), found) if found is not None else None

    def by_id(self, owner: str) -> Caller | None:
        """The caller with this key id (to check an events token it signed)."""
        if self.open:
            return Caller(LOCAL_OWNER, self._local_secret) if owner == LOCAL_OWNER else None
        key = self._by_id.get(owner)
        return Caller(owner, key) if key is not None else None


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


def _signature(caller: Caller, job_id: str, expires: int) -> str:
    mac = hmac.new(caller.key.encode(), f"events\n{job_id}\n{expires}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def events_token(caller: Caller, job_id: str, ttl_s: int, now: float | None = None) -> str:
    """`<key id>.<expiry>.<hmac>`: lets a browser's EventSource (no headers) read one job's events for ttl_s."""
    expires = int((now or time.time()) + ttl_s)
    return f"{caller.key_id}.{expires}.{_signature(caller, job_id, expires)}"


def check_events_token(ring: KeyRing, token: str, job_id: str, now: float | None = None) -> Caller | None:
    """The caller a valid, unexpired token for this job was issued to; None otherwise."""
    owner, _, rest = token.partition(".")
    expires_s, _, signature = rest.partition(".")
    if not expires_s.isdigit() or not signature:
        return None
    caller = ring.by_id(owner)
    if caller is None or int(expires_s) < (now or time.time()):
        return None
    expected = _signature(caller, job_id, int(expires_s))
    return caller if hmac.compare_digest(expected.encode(), signature.encode()) else None
