"""B4's baseline process: asyncio and one httpx.AsyncClient holding N embedding calls (imports nothing else of ours).

`python -m bench.b4_bare SIM_URL PREFIX N HOLD_S READY_FILE`: warms one connection, touches READY_FILE, then sends
N `POST /v1/embeddings` at once (the body and Idempotency-Key shaped as the worker's retrieve step sends them, the
text carrying the simulator's latency marker) and waits for every reply.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx


async def hold(sim_url: str, prefix: str, calls: int, hold_s: int, ready_file: str) -> None:
    """Send `calls` embedding requests at once through one client and wait for them."""
    limits = httpx.Limits(max_connections=calls, max_keepalive_connections=calls)
    async with httpx.AsyncClient(limits=limits, timeout=hold_s * 2) as client:
        await client.get(f"{sim_url}/v1/models")  # warm, as the worker is
        await asyncio.to_thread(Path(ready_file).touch)

        async def call(i: int) -> None:
            body = {
                "model": "sim-embed",
                "input": [f"How often does Comet Veyra return? (#{i}) [[sim:latency={hold_s}s]]"],
            }
            headers = {"Authorization": "Bearer sim", "Idempotency-Key": f"{prefix}{i}/retrieve"}
            resp = await client.post(f"{sim_url}/v1/embeddings", content=json.dumps(body), headers=headers)
            resp.raise_for_status()

        await asyncio.gather(*(call(i) for i in range(calls)), return_exceptions=True)


if __name__ == "__main__":
    url, key_prefix, count, seconds, ready = sys.argv[1:6]
    asyncio.run(hold(url, key_prefix, int(count), int(seconds), ready))
