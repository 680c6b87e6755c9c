"""Simulator under 2,000 concurrent 10 s requests versus a bare asyncio/uvicorn server doing the same wait.

Records `sim_rss` (simulator peak RSS MiB / bare server peak RSS, target <= 3.0) and `sim_rate` (completed
requests per second, simulator / bare, target >= 0.9). Both servers run as subprocesses on free loopback
ports under the same uvicorn settings and are loaded at the same time, sends interleaved, each through
httpx.AsyncClients holding 2,000 connections in all, so the shared machine's noise falls on both alike.
Run: `python -m bench.bench_sim` (about a minute). `python -m bench.bench_sim --serve-bare PORT` is the baseline.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.harness import record
from runtime import services
from runtime.processes import ManagedProcess, free_port

REQUESTS = 2_000
HOLD_S = 10.0
SHARDS = 20
POOL = REQUESTS // SHARDS
BODY = {"model": "sim-chat", "messages": [{"role": "user", "content": "Summarise: the load holds many slow calls."}]}

# The baseline's reply: shaped like a chat completion, built once.
_BARE_REPLY = json.dumps(
    {
        "id": "chatcmpl-bare",
        "object": "chat.completion",
        "created": 0,
        "model": "sim-chat",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The load holds many slow calls."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    }
).encode()


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: read the body, sleep HOLD_S (not for /v1/models), answer with a fixed JSON body."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    if scope["path"] != "/v1/models":
        await asyncio.sleep(HOLD_S)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_BARE_REPLY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _BARE_REPLY})


def serve_bare(port: int) -> None:
    """Run the baseline server (the same uvicorn settings as the simulator)."""
    import uvicorn

    uvicorn.run(
        bare_app, host="127.0.0.1", port=port, log_level="warning", access_log=False, backlog=4096, lifespan="off"
    )


class _Target:
    """One server under load: its URL, process, pool of clients, RSS samples and outcomes."""

    def __init__(self, name: str, url: str, pid: int) -> None:
        self.name = name
        self.url = url
        self.proc = psutil.Process(pid)
        self.idle = self.proc.memory_info().rss
        self.peak = self.idle
        # httpx's pool scans all its connections on every request (quadratic at 2,000), so each server's
        # load is spread over SHARDS clients of POOL connections: 2,000 connections per server.
        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        self.clients = [httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(HOLD_S * 6)) for _ in range(SHARDS)]
        self.done: list[float] = []
        self.ok = 0

    async def warm(self) -> None:
        """Open every connection first, so the timed part measures serving, not TCP set-up."""
        await asyncio.gather(*(self.clients[i % SHARDS].get(f"{self.url}/v1/models") for i in range(REQUESTS)))

    async def call(self, index: int, start: float) -> None:
        """One chat call; success means a 200 with choices."""
        try:
            resp = await self.clients[index % SHARDS].post(f"{self.url}/v1/chat/completions", json=BODY)
            if resp.status_code == 200 and resp.json()["choices"]:
                self.ok += 1
        except httpx.HTTPError:
            pass
        self.done.append(time.perf_counter() - start)

    def sample(self) -> None:
        """Note the server's RSS."""
        self.peak = max(self.peak, self.proc.memory_info().rss)

    async def close(self) -> None:
        """Close the clients."""
        for client in self.clients:
            await client.aclose()

    def summary(self) -> dict[str, float]:
        """Peak RSS and completion rate."""
        elapsed = max(self.done)
        return {
            "idle_mib": self.idle / 2**20,
            "peak_mib": self.peak / 2**20,
            "completed": self.ok,
            "elapsed_s": elapsed,
            "rate": self.ok / elapsed,
        }


async def _hold_side_by_side(targets: list[_Target]) -> None:
    """REQUESTS concurrent calls to each target at once, sends interleaved, so machine noise falls on both."""
    for target in targets:
        await target.warm()
    start = time.perf_counter()
    tasks = [asyncio.create_task(t.call(i, start)) for i in range(REQUESTS) for t in targets]
    while not all(task.done() for task in tasks):
        for target in targets:
            target.sample()
        await asyncio.sleep(0.2)


async def _sim_service_times(sim: _Target) -> dict[str, float]:
    """From the simulator's ledger: how long it held each call, and how spread out arrivals were."""
    ledger = (await sim.clients[0].get(f"{sim.url}/sim/ledger")).json()
    calls = [c for entry in ledger["entries"].values() for c in entry["calls"] if c["finished"]]
    held = sorted(c["finished"] - c["arrival"] for c in calls)
    arrivals = [c["arrival"] for c in calls]
    return {
        "sim_held_p50_s": round(held[len(held) // 2], 3),
        "sim_held_max_s": round(held[-1], 3),
        "sim_arrival_spread_s": round(max(arrivals) - min(arrivals), 3),
    }


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def main() -> None:
    """Hold the bare server and the simulator side by side and record both ratios."""
    _raise_fd_limit()
    state = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    bare_port, sim_port = free_port(), free_port()
    bare = ManagedProcess(
        "bare",
        [sys.executable, "-m", "bench.bench_sim", "--serve-bare", str(bare_port)],
        lambda: services.http_ok(f"http://127.0.0.1:{bare_port}/v1/models"),
        state / "logs" / "bare.log",
    )
    sim = services.simulator(state, sim_port, ["--latency", str(HOLD_S)])
    for proc in (bare, sim):
        proc.start(timeout=60)
    try:
        assert bare.pid is not None and sim.pid is not None
        targets = [
            _Target("bare", f"http://127.0.0.1:{bare_port}", bare.pid),
            _Target("sim", f"http://127.0.0.1:{sim_port}", sim.pid),
        ]
        try:
            await _hold_side_by_side(targets)
            service = await _sim_service_times(targets[1])
        finally:
            for target in targets:
                await target.close()
    finally:
        for proc in (sim, bare):
            proc.stop()
    results = {t.name: t.summary() for t in targets}
    for name, summary in results.items():
        print(name, {k: round(v, 2) for k, v in summary.items()}, flush=True)
    details = {
        **service,
        "requests": REQUESTS,
        "hold_s": HOLD_S,
        **{f"{n}_{k}": round(v, 3) for n, r in results.items() for k, v in r.items()},
    }
    record("sim_rss", "<= 3.0", results["bare"]["peak_mib"], results["sim"]["peak_mib"], "MiB", details)
    record("sim_rate", ">= 0.9", results["bare"]["rate"], results["sim"]["rate"], "req/s", details)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        asyncio.run(main())
