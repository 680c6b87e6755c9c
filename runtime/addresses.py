"""Field rules for the addresses settings name: `host:port` (Temporal), service URLs and ports.

A bad value is refused when settings are read, naming its variable (exit 2 in the CLI), instead of surfacing later
as a connection library's error.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# A DNS name or IPv4 address, or a bracketed IPv6 address; then `:port`.
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>\d{1,5})$")

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port."""


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message reads on its own (no "Value error," prefix)."""
    return PydanticCustomError("invalid_address", message)


def _port_in_range(port: int | None, value: str) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise _invalid(f"port must be 1-65535 in {value!r}")


def host_port(value: str) -> str:
    """Accept `host:port` (e.g. `127.0.0.1:7233`, `temporal.example.com:7233`, `[::1]:7233`)."""
    match = _HOST_PORT.match(value.strip())
    if match is None:
        raise _invalid("must be host:port, e.g. 127.0.0.1:7233 (no scheme, no path)")
    _port_in_range(int(match["port"]), value)
    return value.strip()


def url_with(*schemes: str) -> AfterValidator:
    """A validator accepting URLs of the given schemes that name a host (or, for `unix`, a path)."""

    def check(value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            port = parts.port
        except ValueError as err:
            raise _invalid(f"is not a valid URL: {err}") from None
        if parts.scheme not in schemes:
            raise _invalid(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        if not (parts.hostname or (parts.scheme == "unix" and parts.path)):
            raise _invalid(f"must name a host, e.g. {schemes[0]}://127.0.0.1")
        _port_in_range(port, value)
        return value.strip()

    return AfterValidator(check)


HostPort = Annotated[str, AfterValidator(host_port)]
"""`host:port`, e.g. Temporal's frontend address."""

HttpUrl = Annotated[str, url_with("http", "https")]
"""An http(s) URL with a host."""

RedisUrl = Annotated[str, url_with("redis", "rediss", "unix")]
"""A Redis URL (`redis://`, `rediss://`, `unix://`)."""
