"""A load generator's HTTP/1.1 client: keep-alive connections on asyncio, responses parsed by httptools.

B3 drives the gateway from the same two cores the gateway and Temporal run on, so every millisecond of CPU the
load generator spends per request is taken from the system it measures. aiohttp spends about 1 ms per POST here;
this client writes prebuilt request bytes and reads only the status and body, about a quarter of that, closer to
a client on another machine. It is for benchmarks on loopback: one request per connection at a time, no TLS, no
redirects, no chunked request bodies.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools


class ConnectionClosedError(ConnectionError):
    """The server closed the connection before the response ended (e.g. an idle keep-alive it timed out)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight, its response's status and body read as they arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(ConnectionClosedError(f"unparsable response: {err}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionClosedError("the server closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.body)))

    def _fail(self, err: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(err)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; its (status, body)."""
        assert self.transport is not None
        self.body = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawHTTP:
    """Requests to one host:port over a pool of keep-alive connections, opened as the load needs them."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.common = "".join(
            f"{name}: {value}\r\n" for name, value in {"Host": f"{host}:{port}", **(headers or {})}.items()
        )
        self.idle: list[_Connection] = []

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one request; ConnectionClosedError if the server closed the connection mid-way."""
        head = f"{method} {path} HTTP/1.1\r\n{self.common}"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head += f"Content-Length: {len(body)}\r\n\r\n" if body or method == "POST" else "\r\n"
        conn = await self._acquire()
        try:
            answer = await conn.exchange(head.encode() + body)
        except BaseException:
            conn.close()
            raise
        if conn.reusable and not conn.closed:
            self.idle.append(conn)
        else:
            conn.close()
        return answer

    async def _acquire(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    def close(self) -> None:
        """Close every idle connection."""
        while self.idle:
            self.idle.pop().close()
