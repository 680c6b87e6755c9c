"""B3's load-generator client (bench/raw_http.py) against a real gateway and a server that hangs up."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from bench.raw_http import ConnectionClosedError, RawHTTP
from tests.conftest import GatewayUnderTest


def raw_client(gw: GatewayUnderTest, key: str | None = None) -> RawHTTP:
    host, port = gw.url.removeprefix("http://").rsplit(":", 1)
    return RawHTTP(host, int(port), gw.auth(key) if key is not None else None)


async def test_requests_reuse_one_keep_alive_connection(gateway: GatewayUnderTest) -> None:
    http = raw_client(gateway, gateway.keys[0])
    try:
        assert (await http.request("GET", "/healthz"))[0] == 200
        [first] = http.idle
        assert (await http.request("GET", "/healthz"))[0] == 200
        assert http.idle == [first]  # the same connection served both
    finally:
        http.close()


async def test_a_post_answers_with_the_gateways_status_and_body(gateway: GatewayUnderTest) -> None:
    http = raw_client(gateway, gateway.keys[0])
    body = json.dumps({"question": "Who commissioned the Zephyr reactor?", "collection": gateway.collection}).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    try:
        status, answer = await http.request("POST", "/v1/answers", body, headers)
        assert status == 202, answer
        started = json.loads(answer)
        status, again = await http.request("POST", "/v1/answers", body, headers)
        assert (status, json.loads(again)["job_id"]) == (200, started["job_id"])  # same key, same job
    finally:
        http.close()
    anonymous = raw_client(gateway)
    try:
        status, refused = await anonymous.request("POST", "/v1/answers", body, headers)
        assert status == 401 and b"API key" in refused  # an error's body is read too
    finally:
        anonymous.close()


async def test_a_server_that_hangs_up_raises_connection_closed() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = RawHTTP("127.0.0.1", port)
    try:
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(http.request("GET", "/"), 10)
        assert http.idle == []  # a broken connection is never handed out again
    finally:
        server.close()
        await server.wait_closed()
