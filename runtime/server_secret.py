"""The server secret: signs events tokens, console sessions and CSRF tokens; never an API key.

`GENAI_FLOW_SERVER_SECRET` (a comma list; the first signs, every one verifies, so it rotates like the encryption
keys) when gateways on several hosts must accept each other's tokens; otherwise 32 random bytes made once and kept
in `$GENAI_FLOW_HOME/server-secret` (mode 0600), so a restart keeps issued tokens valid. Each use gets its own key
derived once with HMAC-SHA256 (`derive`), so a token of one kind can never pass as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

SECRET_FILE = "server-secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def stored_secret(home: Path) -> bytes:
    """The secret kept in the state dir, made on first use (readable by its owner only)."""
    path = home / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    fresh = _b64(secrets.token_bytes(SECRET_BYTES)).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the stack made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(fresh)
    return fresh


def derive(secret: bytes, purpose: str) -> bytes:
    """The key for one use of the secret (`events`, `session`, `csrf`)."""
    return hmac.new(secret, f"genai-flow/{purpose}".encode(), hashlib.sha256).digest()


class Signer:
    """HMAC signatures for one purpose: signs with the first secret, verifies with any (rotation)."""

    def __init__(self, secrets_: Sequence[bytes], purpose: str) -> None:
        if not secrets_:
            raise ValueError("a signer needs at least one secret")
        # Keyed once: copying a keyed HMAC skips the key schedule that every sign and verify would otherwise redo.
        self._macs = [hmac.new(derive(s, purpose), digestmod=hashlib.sha256) for s in secrets_]

    def _mac(self, index: int, message: str) -> str:
        mac = self._macs[index].copy()
        mac.update(message.encode())
        return _b64(mac.digest())

    def sign(self, message: str) -> str:
        """The signature of `message` (URL-safe base64, no padding)."""
        return self._mac(0, message)

    def verify(self, message: str, signature: str) -> bool:
        """True when any configured secret signed `message` (constant-time compare)."""
        presented = signature.encode()
        ok = False
        for index in range(len(self._macs)):
            ok |= hmac.compare_digest(self._mac(index, message).encode(), presented)
        return ok
