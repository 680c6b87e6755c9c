"""The model router's pieces on real servers: the models file, the shared Redis limiter, the simulator's limits.

The limiter is one Lua script per operation: processes racing for the last slots of an endpoint never take more
than its limit between them; a provider's pause only grows; an open breaker refuses until its probe succeeds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from activities.router_wire import counted_tokens, estimate_tokens, provider_pause
from runtime.limiter import KEEP, BulkOwner, Limiter, LimiterUnavailable
from runtime.models_file import ModelsFileError, parse_models
from runtime.settings import Settings, SettingsError, load_settings
from schemas.models_file import Endpoint, RouterOptions

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "genai-flow")
GOOD = """
endpoints:
  primary: {base_url: "http://127.0.0.1:8001/v1", rpm: 500, tpm: 60000, max_concurrency: 32}
  backup:  {base_url: "http://127.0.0.1:8011/v1", tpm: 30000}
models:
  sim-chat: [primary, backup]
  sim-embed: [primary, {endpoint: backup, model: other-embed-name}]
"""


def test_a_good_models_file_reads_as_routes() -> None:
    models = parse_models(GOOD)
    assert [(n, m) for n, _, m in models.route("sim-embed")] == [
        ("primary", "sim-embed"),
        ("backup", "other-embed-name"),
    ]
    assert models.endpoints["backup"].rpm is None and models.route("unlisted") == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GOOD.replace("tpm: 30000", "tpm: -5"), "endpoints.backup.tpm: Input should be greater than 0 (got -5)"),
        (GOOD.replace("[primary, backup]", "[primary, bakup]"), "models.sim-chat.1.endpoint: unknown endpoint 'bakup'"),
        (GOOD.replace("rpm: 500", "rpn: 500"), "endpoints.primary.rpn: Extra inputs are not permitted"),
        (GOOD.replace('"http://127.0.0.1:8011/v1"', "nowhere"), "endpoints.backup.base_url"),
        ("endpoints: [", "not valid YAML"),
    ],
)
def test_a_bad_models_file_names_the_field(text: str, named: str) -> None:
    with pytest.raises(ModelsFileError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_models(text, "m.yaml")


def test_up_worker_and_doctor_refuse_a_bad_models_file_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text(GOOD.replace("tpm: 30000", "tpm: lots"))
    env = {**os.environ, "GENAI_FLOW_MODELS_FILE": str(bad), "GENAI_FLOW_HOME": str(tmp_path / "home")}
    for command in ("up", "worker", "doctor"):
        done = subprocess.run([CLI, command], env=env, capture_output=True, text=True, timeout=120)
        said = done.stdout + done.stderr
        assert done.returncode == 2, (command, said)
        assert f"GENAI_FLOW_MODELS_FILE {bad}: endpoints.backup.tpm: Input should be a valid integer" in said, command
        assert "Traceback" not in said
    assert not (tmp_path / "home" / "temporal.db").exists()  # `up` started nothing
    # A model this deployment uses must be listed (the same check every command runs when it reads the settings).
    bad.write_text(GOOD.replace("sim-embed:", "other-embed:"))
    monkeypatch.setenv("GENAI_FLOW_MODELS_FILE", str(bad))
    with pytest.raises(SettingsError, match="models: no entry for 'sim-embed'"):
        load_settings()


def test_token_estimates_and_counted_usage() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hello, world!"}], "max_tokens": 50}
    assert estimate_tokens(body) == 3 + 4 + 50  # the simulator's rule (4 runs) plus 3 per message and the bound
    assert estimate_tokens({"model": "e", "input": ["a b", "c"]}) == 3
    payload = b'{"usage": {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19}}'
    assert counted_tokens(body, payload, count_output_bound=True) == 57  # prompt + max_tokens, as OpenAI counts
    assert counted_tokens(body, payload, count_output_bound=False) == 19
    assert provider_pause({"x-ratelimit-reset-requests": "1.5s", "x-ratelimit-reset-tokens": "6m0s"}) == 360
    assert provider_pause({"retry-after-ms": "250"}) == 0.25 and provider_pause({}) is None


def _limiter(settings: Settings, client: redis.asyncio.Redis, **options: float) -> Limiter:
    return Limiter(client, settings.key_prefix, RouterOptions(**options))


async def test_processes_racing_never_take_more_than_the_limit(isolated_settings: Settings) -> None:
    racers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.limiter_race",
            isolated_settings.redis_url,
            isolated_settings.key_prefix,
            "4",
            "100",
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(r.communicate() for r in racers)), 120)
    granted = [int(out.decode()) for out, _ in outputs]
    assert sum(granted) == 150, granted  # 400 tries by four processes at once: exactly the RPM went through
    assert sum(g > 0 for g in granted) >= 2, granted  # they really raced


async def test_tokens_settle_and_the_wait_is_the_time_until_capacity(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    limiter = _limiter(isolated_settings, isolated_redis)
    endpoint = Endpoint(base_url="http://127.0.0.1:1/v1", tpm=100, max_concurrency=1)
    first = await limiter.reserve("e", endpoint, 80, 30)
    refused = await limiter.reserve("e", endpoint, 30, 30)
    assert first.granted and not refused.granted and refused.reason == "tpm" and 59 < refused.wait_s <= 60
    await limiter.settle("e", first, 50, "ok")  # the provider counted 50, not the 80 estimated
    second = await limiter.reserve("e", endpoint, 30, 30)
    assert second.granted
    third = await limiter.reserve("e", endpoint, 1, 30)
    assert not third.granted and third.reason == "concurrency"  # one in flight already
    await limiter.settle("e", second, None, "none")  # never reached the provider: nothing counted
    timed_out = await limiter.reserve("e", endpoint, 7, 30)
    await limiter.settle("e", timed_out, KEEP, "fail")  # reached the provider, which may have counted it: kept
    state = await limiter.state("e")
    assert (state.requests, state.tokens, state.in_flight) == (2, 57, 0)


async def test_a_pause_only_grows_and_an_open_breaker_probes_once(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    limiter = _limiter(isolated_settings, isolated_redis, breaker_failures=2, breaker_open_s=0.3)
    endpoint = Endpoint(base_url="http://127.0.0.1:1/v1")
    assert await limiter.pause("p", 30) == 30
    assert 29 < await limiter.pause("p", 1) <= 30  # a later, shorter Retry-After never ends the longer pause
    paused = await limiter.reserve("p", endpoint, 1, 30)
    assert not paused.granted and paused.reason == "paused" and paused.wait_s > 29

    for _ in range(2):
        grant = await limiter.reserve("b", endpoint, 1, 30)
        opened = await limiter.settle("b", grant, None, "fail")
    assert opened and (await limiter.state("b")).breaker == "open"
    assert (await limiter.reserve("b", endpoint, 1, 30)).reason == "open"
    await asyncio.sleep(0.35)
    probe = await limiter.reserve("b", endpoint, 1, 30)
    assert probe.granted and (await limiter.reserve("b", endpoint, 1, 30)).reason == "open"  # one probe at a time
    await limiter.settle("b", probe, 1, "ok")
    assert (await limiter.state("b")).breaker == "closed" and (await limiter.reserve("b", endpoint, 1, 30)).granted


async def test_without_redis_the_limiter_fails_closed(isolated_settings: Settings) -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    with pytest.raises(LimiterUnavailable):
        await _limiter(isolated_settings, client).reserve("e", Endpoint(base_url="http://127.0.0.1:1/v1"), 1, 30)
    await client.aclose()


async def test_the_simulator_counts_requests_and_tokens_as_a_provider(sim_factory: Callable[..., str]) -> None:
    url = sim_factory("--rpm", "3", "--tpm", "300")
    chat = {"model": "sim-chat", "messages": [{"role": "user", "content": "one two three"}], "max_tokens": 90}
    async with httpx.AsyncClient(base_url=url) as http:
        codes = [(await http.post("/v1/chat/completions", json=chat)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]  # 3 x (3 prompt + 90 bound) = 279 tokens
        refused = await http.post("/v1/chat/completions", json=chat)
        limits = (await http.get("/sim/limits")).json()
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 58 <= float(refused.headers["retry-after"]) <= 60 and int(refused.headers["retry-after-ms"]) > 58_000
    assert refused.headers["x-ratelimit-limit-requests"] == "3" and refused.headers["x-ratelimit-limit-tokens"] == "300"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "21"
    assert refused.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert limits["requests"] == 3 and limits["tokens"] == 279 and limits["refused_rpm"] == 1


async def test_bulk_work_shares_an_endpoint_fairly_between_keys_then_jobs(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    limiter = _limiter(isolated_settings, isolated_redis)
    endpoint = Endpoint(base_url="http://127.0.0.1:1/v1", tpm=200)
    held: Counter[str] = Counter()
    refused: Counter[str] = Counter()

    async def take(key: str, job: str, times: int) -> None:
        for _ in range(times):
            grant = await limiter.reserve("e", endpoint, 10, 30, bulk=BulkOwner(key, job))
            if grant.granted:
                held[f"{key}/{job}"] += 10
            else:
                assert 0 < grant.wait_s <= 60
                refused[f"{key}/{job} {grant.reason}"] += 1

    await take("a", "a1", 4)  # alone: key a may take all of it
    await take("a", "a2", 2)  # a's second job: each of a's jobs may hold half of a's part (all of it, for now)
    # Key b arrives with one job while a has two: b gets half the endpoint (100), where shares per job gave it a third.
    await take("b", "b1", 12)
    assert held["b/b1"] == 100 and refused == Counter({"b/b1 share": 2})  # 40 tokens are still free
    await take("a", "a1", 3)  # a's part is 100, 50 a job: a1 (40) takes one more
    await take("a", "a2", 3)  # a2 (20) takes three: a holds its 100
    assert held == Counter({"a/a1": 50, "a/a2": 50, "b/b1": 100})
    assert refused == Counter({"b/b1 share": 2, "a/a1 share": 2})
    assert (await limiter.reserve("e", endpoint, 10, 30)).reason == "tpm"  # the window is full for everyone
    # A key (or a job) holding nothing may always take one call, even one larger than its share.
    small = Endpoint(base_url="http://127.0.0.1:1/v1", tpm=100)
    assert (await limiter.reserve("f", small, 30, 30, bulk=BulkOwner("x", "x1"))).granted
    assert (await limiter.reserve("f", small, 60, 30, bulk=BulkOwner("y", "y1"))).granted
    assert (await limiter.reserve("f", small, 5, 30, bulk=BulkOwner("y", "y1"))).reason == "share"
