"""The model router on the whole stack: AnswerQuestion jobs through workers whose model calls the models file routes.

- A limited endpoint: jobs wait for capacity (Throttled, never counted) instead of meeting 429s; none dead-letters.
- A bulk ingestion saturating that endpoint: answer jobs submitted while it waits finish before it does.
- The primary killed, then a 60 s 503 outage (ended once the jobs run during it are done, to keep the test short):
  jobs go on on the backup, none is dead-lettered or paid twice (both simulators' ledgers), and traffic returns to
  the primary once it recovers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.documents import write_large_text
from runtime import services
from runtime.keys import RedisKeys
from runtime.limiter import Limiter
from runtime.objectstore import ObjectStore
from runtime.processes import free_port
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.answer import AnswerRequest, AnswerResult
from schemas.ingest import IngestJob
from schemas.jobs import JobStatus, Pipeline
from schemas.models_file import RouterOptions
from schemas.sim import SimLedger
from starter.client import GenAIFlowClient
from tests.helpers import index_facts, private_settings, running_workers, sim_ledger

SMALL_BOUNDS = {"default": 256, "summarize": 512, "extract_entities": 512, "generate_answer": 256}
QUESTION = "Who commissioned the Zephyr reactor?"


def routed_settings(unique: str, models: Path) -> Settings:
    """This test's queues and keys, with the models file and output bounds that keep each job's tokens small."""
    return private_settings(unique).model_copy(update={"models_file": models, "max_tokens": SMALL_BOUNDS})


async def answer_all(flow: GenAIFlowClient, collection: str, count: int, tag: str) -> list[str]:
    """Start `count` answer jobs and wait for all; their job ids."""
    started = [
        await flow.start(Pipeline.ANSWER, AnswerRequest(question=f"{QUESTION} ({tag} {i})", collection=collection))
        for i in range(count)
    ]
    infos = await asyncio.wait_for(asyncio.gather(*(flow.wait(s.job_id) for s in started)), 180)
    assert [i.status for i in infos] == [JobStatus.COMPLETED] * count, [i.error for i in infos]
    return [s.job_id for s in started]


def statuses(ledger: SimLedger, job_ids: list[str]) -> Counter[int | str]:
    """Call statuses of the given jobs' keys in a simulator's ledger."""
    return Counter(c.status for k, e in ledger.entries.items() if k.split("/")[0] in job_ids for c in e.calls)


async def limited_stack(
    sim_factory: Callable[..., str], tmp_path: Path, unique: str, tpm: int, window_s: int
) -> tuple[str, Settings, str]:
    """A simulator limited to `tpm` per `window_s`, the models file naming it (endpoint `l`) with the same limit, and
    the facts indexed through it: (its URL, the settings, the collection)."""
    limited = sim_factory("--tpm", str(tpm), "--limit-window", str(window_s))
    models = tmp_path / "models.yaml"
    models.write_text(
        f'endpoints: {{l: {{base_url: "{limited}/v1", tpm: {tpm}, window_s: {window_s}}}}}\n'
        "models: {sim-chat: [l], sim-embed: [l]}\n"
    )
    settings = routed_settings(unique, models)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    return limited, settings, collection


async def test_jobs_wait_for_capacity_instead_of_meeting_429s(
    client: Client, sim_factory: Callable[..., str], tmp_path: Path, unique: str
) -> None:
    limited, settings, collection = await limited_stack(sim_factory, tmp_path, unique, 4000, 2)
    async with running_workers(client, settings) as flow:
        jobs = await answer_all(flow, collection, 6, "burst")
        result = AnswerResult.model_validate((await flow.status(jobs[0])).result)
    assert {s.usage.endpoint for s in result.steps} == {"l"} and result.usage.endpoint == "l"
    assert statuses(await sim_ledger(limited), jobs) == Counter({200: 6 * 4})  # not one 429
    limiter = Limiter(redis_client(settings), settings.key_prefix, RouterOptions())
    state = await limiter.state("l", 2)
    await limiter.redis.aclose()
    assert state.counters["throttled_tpm"] > 0  # the jobs did wait for capacity


async def throttled_attempts(flow: GenAIFlowClient, job_id: str) -> int:
    """A job's activity attempts that followed a Throttled one: waits for capacity outside the call."""
    history = await flow.handle(job_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.last_failure.application_failure_info.type == "Throttled"
    )


async def test_interactive_jobs_finish_before_the_bulk_work_queued_ahead_of_them(
    client: Client, sim_factory: Callable[..., str], tmp_path: Path, unique: str
) -> None:
    # TPM 40,000 per 4 s window; ingestion's embeddings may fill 80 % of it. Four 0.2 MB documents are ~16 requests
    # of ~10,000 tokens, three a window at most: some 20 s of bulk work, most of it waiting for capacity.
    limited, settings, collection = await limited_stack(sim_factory, tmp_path, unique, 40000, 4)
    docs = [write_large_text(tmp_path / f"bulk-{n}.txt", 0.2, seed=n) for n in range(4)]
    limiter = Limiter(redis_client(settings), settings.key_prefix, RouterOptions())
    try:
        async with running_workers(client, settings) as flow:
            throttled = (await limiter.state("l", 4)).counters.get("throttled", 0)
            async with ObjectStore() as store:  # two API keys' bulk work: the limiter shares it by owner key
                bulk = [
                    await flow.ingest((await store.head(str(d))).as_version(), f"bulk-{unique}", owner=f"key-{n % 2}")
                    for n, d in enumerate(docs)
                ]
            bulk_ids = [b.job_id for b in bulk if isinstance(b, IngestJob)]
            assert len(bulk_ids) == len(docs)
            # The bulk work saturates the endpoint (it waits for capacity), and the jobs' owner keys reach the
            # limiter's shares through embed_chunks.
            shares, owners, keys = RedisKeys(settings.key_prefix).router("l", "owntot"), set[str](), {"key-0", "key-1"}
            async with asyncio.timeout(120):
                while (await limiter.state("l", 4)).counters.get("throttled", 0) == throttled or not keys <= owners:
                    owners |= {str(k) for k in await limiter.redis.hkeys(shares)}
                    await asyncio.sleep(0.2)
            answers = await answer_all(flow, collection, 2, "interactive")
            running = [(await flow.status(j)).status for j in bulk_ids].count(JobStatus.RUNNING)
            infos = await asyncio.wait_for(asyncio.gather(*(flow.wait(j, poll_s=1.0) for j in bulk_ids)), 300)
            assert [i.status for i in infos] == [JobStatus.COMPLETED] * len(docs), [i.error for i in infos]
            # The interactive calls found their part free: none of them waited outside its call for capacity.
            assert [await throttled_attempts(flow, j) for j in answers] == [0, 0]
            assert sum([await throttled_attempts(flow, j) for j in bulk_ids]) > 0  # while the bulk work did
        counters = (await limiter.state("l", 4)).counters
    finally:
        await limiter.redis.aclose()
    assert running > 0  # the answers finished while bulk work queued ahead of them was still waiting
    assert counters["throttled_tpm"] > 0
    ledger = await sim_ledger(limited)
    assert statuses(ledger, answers) == Counter({200: 2 * 4})
    assert set(statuses(ledger, bulk_ids)) == {200}  # never a provider 429


async def test_jobs_go_on_through_a_dead_then_failing_primary_and_come_back(
    client: Client, sim_factory: Callable[..., str], state_dir: Path, tmp_path: Path, unique: str
) -> None:
    port = free_port()
    primary_url, backup_url = f"http://127.0.0.1:{port}", sim_factory()
    primary = services.simulator(state_dir, port).start(timeout=60)
    models = tmp_path / "models.yaml"
    models.write_text(
        f'endpoints: {{primary: {{base_url: "{primary_url}/v1"}}, backup: {{base_url: "{backup_url}/v1"}}}}\n'
        "models: {sim-chat: [primary, backup], sim-embed: [primary, backup]}\n"
        "router: {breaker_failures: 2, breaker_open_s: 1}\n"
    )
    settings = routed_settings(unique, models)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    ledgers: list[SimLedger] = []
    try:
        async with running_workers(client, settings) as flow:
            before = await answer_all(flow, collection, 2, "before")
            ledgers.append(await sim_ledger(primary_url))
            primary.stop()  # killed: connections refused
            dead = await answer_all(flow, collection, 3, "dead")
            primary = services.simulator(state_dir, port).start(timeout=60)
            async with httpx.AsyncClient(base_url=primary_url) as http:
                await http.post("/sim/outage", json={"status": 503, "seconds": 60})
                # Completed, so none dead-lettered; the breaker's probes (every 1 s) keep failing meanwhile.
                failing = await answer_all(flow, collection, 3, "outage")
                await http.post("/sim/outage", json={"status": 503, "seconds": 0})  # the primary recovers
            await asyncio.sleep(1.5)  # the breaker half-open: the next call probes the primary and closes it
            # While the probe is in flight a concurrent call of this job goes to the backup: only later jobs count.
            await answer_all(flow, collection, 1, "probe")
            after = await answer_all(flow, collection, 2, "after")
            ledgers += [await sim_ledger(primary_url), await sim_ledger(backup_url)]
    finally:
        primary.stop()
    served_before, _, backup = ledgers[0], ledgers[1], ledgers[2]
    assert statuses(served_before, before) == Counter({200: 2 * 4})
    assert statuses(backup, dead + failing) == Counter({200: 6 * 4})  # every call of those jobs: on the backup
    assert statuses(ledgers[1], after) == Counter({200: 2 * 4})  # traffic back on the primary
    assert not statuses(backup, after)
    # Never paid twice: no key was billed by both simulators, nor twice by one.
    billed: Counter[str] = Counter()
    for ledger in ledgers:
        for key, entry in ledger.entries.items():
            billed[key] += sum(1 for c in entry.calls if c.billed_prompt_tokens)
    assert billed and max(billed.values()) == 1
