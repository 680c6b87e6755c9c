"""Which secrets a child process inherits: each gets only the secret variables it needs (`up`, test fixtures).

Temporal, Redis, Chroma, the simulator and llama-server need none; the gateway needs the API keys, the server
secret, the encryption keys and the infrastructure's credentials; a worker needs the encryption keys and the model
and infrastructure credentials, never the API keys or the server secret. Everything else in the environment
(paths, ports, settings) is inherited as before.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

API_KEYS = frozenset({"GENAI_FLOW_API_KEYS", "GENAI_FLOW_ADMIN_KEYS", "GENAI_FLOW_SERVER_SECRET"})
ENCRYPTION = frozenset({"GENAI_FLOW_ENCRYPTION_KEYS"})
INFRASTRUCTURE = frozenset({"TEMPORAL_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
# Name endings that mark a secret in any variable (OPENAI_API_KEY, a models file's api_key_env, REDIS_PASSWORD).
_SECRET_ENDINGS = ("API_KEY", "API_KEYS", "_SECRET", "_SECRET_KEY", "_SECRET_ACCESS_KEY", "_TOKEN", "PASSWORD")

NONE: frozenset[str] = frozenset()
GATEWAY = API_KEYS | ENCRYPTION | INFRASTRUCTURE


def is_secret(name: str) -> bool:
    """True for a variable that holds a credential."""
    upper = name.upper()
    return upper in API_KEYS | ENCRYPTION | INFRASTRUCTURE or upper.endswith(_SECRET_ENDINGS)


def worker_secrets(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """A worker's: every secret in the environment but the gateway's own (API keys, server secret)."""
    return frozenset(n for n in (os.environ if environ is None else environ) if is_secret(n)) - API_KEYS


def inherited(keep: Collection[str] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a child starts from: all of it (`keep` None), else without the secrets not in `keep`."""
    source = os.environ if environ is None else environ
    if keep is None:
        return dict(source)
    return {name: value for name, value in source.items() if not is_secret(name) or name in keep}
