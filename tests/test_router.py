"""The model router under the real OpenAI client, against real simulators: limits kept, failover, recovery.

Two simulators on two ports are a primary and a backup; the models file points the logical models at both.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import pytest
import pytest_asyncio
import redis.asyncio
from rich.console import Console
from temporalio.testing import ActivityEnvironment

from activities.errors import classify
from activities.llm import make_llm
from activities.router import served_by
from gateway.observability import families
from launcher.checks_router import endpoint_checks
from runtime.limiter import Limiter
from runtime.models_file import load_models
from runtime.processes import free_port
from runtime.redis import redis_client
from runtime.router_stats import endpoint_stats
from runtime.settings import Settings
from schemas.doctor import CheckStatus
from schemas.stats import StatsSnapshot
from starter.cli.stats_view import render

CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "Say something short."}], "max_tokens": 40}


def models_file(tmp_path: Path, primary: str, backup: str, primary_limits: str = "", **router: float) -> Path:
    """A models file: sim-chat and sim-embed on primary then backup, with router options."""
    options = ", ".join(f"{k}: {v}" for k, v in router.items())
    path = tmp_path / "models.yaml"
    path.write_text(
        f"""
endpoints:
  primary: {{base_url: "{primary}/v1"{primary_limits}}}
  backup: {{base_url: "{backup}/v1"}}
models:
  sim-chat: [primary, backup]
  sim-embed: [primary, backup]
router: {{{options}}}
"""
    )
    return path


@pytest_asyncio.fixture
async def routed(isolated_settings: Settings) -> AsyncIterator[Callable[[Path], openai.AsyncOpenAI]]:
    """make_llm with a models file, as workers build it; clients closed after the test."""
    made: list[openai.AsyncOpenAI] = []

    def make(path: Path) -> openai.AsyncOpenAI:
        made.append(make_llm(isolated_settings.model_copy(update={"models_file": path})))
        return made[-1]

    yield make
    for llm in made:
        await llm.close()


async def calls_of(url: str) -> list[int | str]:
    """Statuses of every call a simulator received."""
    async with httpx.AsyncClient(base_url=url) as http:
        ledger = (await http.get("/sim/ledger")).json()
    return [c["status"] for e in ledger["entries"].values() for c in e["calls"]]


async def test_the_limit_is_kept_before_the_provider_sees_a_call(
    sim_factory: Callable[..., str], routed: Callable[[Path], openai.AsyncOpenAI], tmp_path: Path
) -> None:
    # One endpoint, TPM 150: each call counts its prompt (~4) + max_tokens (40), so three fit and the fourth waits.
    primary = sim_factory("--tpm", "150")
    path = tmp_path / "one.yaml"
    path.write_text(
        f'endpoints: {{p: {{base_url: "{primary}/v1", tpm: 150}}}}\nmodels: {{sim-chat: [p], sim-embed: [p]}}'
    )
    llm = routed(path)
    for _ in range(3):
        with served_by() as served:
            await llm.chat.completions.create(**CHAT)
        assert served.endpoint == "p"
    with pytest.raises(openai.RateLimitError) as caught:
        await llm.chat.completions.create(**CHAT)
    err = classify(caught.value)
    assert err.type == "Throttled" and err.next_retry_delay is not None
    assert 50 < err.next_retry_delay.total_seconds() <= 60  # until the first call leaves the window
    assert "router: no capacity (p tpm)" in err.message
    assert await calls_of(primary) == [200, 200, 200]  # the provider never answered 429


async def test_a_killed_primary_fails_over_in_the_same_call(
    sim_factory: Callable[..., str], routed: Callable[[Path], openai.AsyncOpenAI], tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connections are refused
    llm = routed(models_file(tmp_path, dead, sim_factory()))
    with served_by() as served:
        answer = await llm.chat.completions.create(**CHAT)
    assert served.endpoint == "backup" and answer.choices[0].message.content


async def test_an_outage_opens_the_breaker_and_traffic_returns_after_recovery(
    sim_factory: Callable[..., str],
    routed: Callable[[Path], openai.AsyncOpenAI],
    tmp_path: Path,
    isolated_settings: Settings,
) -> None:
    primary, backup = sim_factory(), sim_factory()
    # A 503 outage: failed calls go to the backup at once, then the breaker opens and the primary is skipped.
    llm = routed(models_file(tmp_path, primary, backup, breaker_failures=2, breaker_open_s=3))
    async with httpx.AsyncClient(base_url=primary) as http:
        await http.post("/sim/outage", json={"status": 503, "seconds": 1.0})
    for _ in range(4):
        with served_by() as served:
            await llm.chat.completions.create(**CHAT, extra_headers={"Idempotency-Key": f"k{_}"})
        assert served.endpoint == "backup"
    assert await calls_of(primary) == [503, 503]  # two failures opened the breaker; the rest never went there
    limiter = Limiter(
        redis_client(isolated_settings), isolated_settings.key_prefix, load_models(tmp_path / "models.yaml").router
    )
    assert (await limiter.state("primary")).breaker == "open"

    await asyncio.sleep(3.1)  # the outage is over and the breaker half-open: one probe, then the primary again
    for _ in range(2):
        with served_by() as served:
            await llm.chat.completions.create(**CHAT)
        assert served.endpoint == "primary"
    state = await limiter.state("primary")
    assert state.breaker == "closed" and state.counters["breaker_opened"] == 1
    assert (await limiter.state("backup")).counters["failovers_in"] == 4
    await limiter.redis.aclose()


async def test_a_provider_429_pauses_the_endpoint_for_everyone(
    sim_factory: Callable[..., str],
    routed: Callable[[Path], openai.AsyncOpenAI],
    tmp_path: Path,
    isolated_settings: Settings,
    isolated_redis: redis.asyncio.Redis,
) -> None:
    # The file does not know the primary's limit (no tpm): its 429 pauses it for its Retry-After, and calls meanwhile
    # go to the backup without asking the primary again.
    primary, backup = sim_factory("--rpm", "1"), sim_factory()
    path = models_file(tmp_path, primary, backup, failover_after_s=0)
    first, second = routed(path), routed(path)  # two clients: two workers sharing the limiter
    with served_by() as served:
        await first.chat.completions.create(**CHAT)
    assert served.endpoint == "primary"
    with served_by() as served:
        await first.chat.completions.create(**CHAT)
    assert served.endpoint == "backup"  # the primary answered 429; the same call went on to the backup
    with served_by() as served:
        await second.chat.completions.create(**CHAT)
    assert served.endpoint == "backup"
    assert await calls_of(primary) == [200, 429]  # paused: the other worker never asked it

    # `genai-flow stats` (and /metrics) show it: the pause, the 429, the failovers.
    settings = isolated_settings.model_copy(update={"models_file": path})
    rows = {row.endpoint: row for row in await endpoint_stats(isolated_redis, settings)}
    assert rows["primary"].provider_429 == 1 and 50 < rows["primary"].paused_s <= 60
    assert rows["primary"].served == 1 and rows["backup"].served == rows["backup"].failovers_in == 2
    assert rows["primary"].requests == 1 and rows["primary"].throttled == 1  # the 429 counts toward nothing
    snapshot = StatsSnapshot(
        generated_at=datetime.now(UTC), namespace="n", window_minutes=1, endpoints=list(rows.values())
    )
    console = Console(width=200, record=True)
    console.print(render(snapshot))
    assert "primary (paused" in console.export_text()
    gauges = {family.name: family for family in families(snapshot)}
    assert {(s.labels["endpoint"], s.value) for s in gauges["genai_router_provider_429"].samples} == {
        ("primary", 1),
        ("backup", 0),
    }


async def test_doctor_checks_every_endpoint_of_the_file(
    sim_factory: Callable[..., str], tmp_path: Path, isolated_settings: Settings
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = isolated_settings.model_copy(update={"models_file": models_file(tmp_path, sim_factory(), dead)})
    findings = {f.check: f for f in await endpoint_checks(settings)}
    assert set(findings) == {f"endpoint {n} ({k})" for n in ("primary", "backup") for k in ("chat", "embeddings")}
    assert findings["endpoint primary (chat)"].status is CheckStatus.OK
    down = findings["endpoint backup (embeddings)"]
    assert down.status is CheckStatus.UNREACHABLE and dead in down.detail
    assert "endpoints.backup.base_url" in (down.fix or "")


async def test_bulk_work_leaves_interactive_calls_their_share(
    sim_factory: Callable[..., str], routed: Callable[[Path], openai.AsyncOpenAI], tmp_path: Path
) -> None:
    # TPM 1,000; each call counts ~100. Ingestion's embeddings (activity `embed_chunks`) may fill 80% of it, so an
    # answer's call still goes through while the bulk work waits.
    path = tmp_path / "one.yaml"
    path.write_text(
        f'endpoints: {{p: {{base_url: "{sim_factory()}/v1", tpm: 1000}}}}\nmodels: {{sim-embed: [p], sim-chat: [p]}}'
    )
    llm = routed(path)
    text = " ".join(f"w{i}" for i in range(100))  # 100 tokens

    def running_as(activity_type: str) -> ActivityEnvironment:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, activity_type=activity_type)
        return env

    async def embed() -> bool:
        try:
            await llm.embeddings.create(model="sim-embed", input=text)
        except openai.RateLimitError:
            return False
        return True

    bulk = running_as("embed_chunks")
    served = [await bulk.run(embed) for _ in range(10)]
    assert served == [True] * 8 + [False] * 2  # bulk stops at 800 of 1,000
    assert await running_as("embed").run(embed)  # an answer's retrieval embedding is interactive: served
    assert await running_as("chat").run(embed) and not await running_as("chat").run(embed)  # then the limit holds
