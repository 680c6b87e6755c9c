"""The web console driven in a real headless Chromium (Debian's `chromium`, through Playwright) on the real stack.

Screenshots: tests/console_pages.py (GENAI_FLOW_CONSOLE_SHOTS=<dir>).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gateway.auth import key_id
from schemas import search_attributes as sa
from tests.conftest import GatewayUnderTest
from tests.console_big import BigResult
from tests.console_pages import LAPTOP, chromium, shoot, signed_in
from tests.helpers import index_facts, running_workers

# How much of the answer step's streamed text the job page shows so far (-1 before its first token).
ANSWER_LENGTH = """(() => {
  const t = document.querySelector("#live [data-step='generate_answer'] .live-text");
  return t ? t.textContent.length : -1;
})()"""


@pytest_asyncio.fixture(scope="module")
async def console(
    gateway_factory: Callable[..., GatewayUnderTest],
    client: Client,
    sim_factory: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[GatewayUnderTest]:
    """A gateway with workers whose simulator streams 40 tokens/s, so a page can watch an answer arrive."""
    slow = sim_factory("--tps", "40")
    gw = gateway_factory()
    gw.settings = gw.settings.model_copy(update={"sim_port": int(slow.rsplit(":", 1)[1])})
    gw.collection = f"facts-{gw.settings.key_prefix}"
    await index_facts(tmp_path_factory.mktemp("console-corpus"), gw.collection, gw.settings)
    async with running_workers(client, gw.settings):
        yield gw


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture
async def api(console: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console.url, headers=console.auth(), timeout=60) as http:
        yield http


async def status_of(http: httpx.AsyncClient, job: str, *wanted: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info: dict[str, Any] = (await http.get(f"/v1/jobs/{job}")).json()
        if info["status"] in wanted:
            return info
        await asyncio.sleep(0.25)
    raise AssertionError(f"{job} never reached {wanted}")


async def reload_until(page: Page, url: str, selector: str, timeout: float = 60) -> None:
    """Open url until selector shows (visibility is eventually consistent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await page.goto(url)
        if await page.locator(selector).count():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{selector} never appeared on {url}")


async def dcl_ms(page: Page, url: str) -> float:
    """Milliseconds from navigation start to DOMContentLoaded's end, as the browser measured it."""
    await page.goto(url, wait_until="domcontentloaded")
    value: float = await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
    return value


async def test_sign_in_csrf_and_owners(browser: Browser, console: GatewayUnderTest, api: httpx.AsyncClient) -> None:
    anonymous = await browser.new_context(base_url=console.url, viewport=LAPTOP)
    page = await anonymous.new_page()
    for path in ("/ui/jobs", "/ui/jobs/answer-x", "/ui/approvals", "/ui/dead-letters", "/ui/new"):
        await page.goto(path)
        assert "/ui/login" in page.url, path
    await shoot(page, "login")
    await page.fill("input[name=api_key]", "not-a-key")
    await page.click("button[type=submit]")
    assert "unknown API key" in await page.inner_text("main")
    await anonymous.close()

    other_job = (
        await api.post("/v1/answers", json={"question": "q", "collection": console.collection},
                       headers=console.auth(console.keys[1]))
    ).json()["job_id"]  # fmt: skip
    context, page = await signed_in(browser, console, console.keys[0])
    assert other_job not in await page.inner_text("main")
    await page.goto(f"/ui/jobs/{other_job}")
    assert "another API key" in await page.inner_text("#error")  # a page, not JSON

    for form in ({"question": "hello"}, {"question": "hello", "csrf": "forged"}):
        refused = await context.request.post(f"{console.url}/ui/ask", form=form, max_redirects=0)
        assert refused.status == 403 and "text/html" in refused.headers["content-type"]
        assert "security token" in await refused.text()
    await context.close()


async def test_ask_in_the_page_streams_then_shows_citations_and_cost(
    browser: Browser, console: GatewayUnderTest
) -> None:
    context, page = await signed_in(browser, console, console.keys[0])
    await page.goto("/ui/new")
    await shoot(page, "new")
    await page.fill("#ask-form textarea[name=question]", "Who catalogued Comet Veyra?")
    await page.fill("#ask-form input[name=collection]", console.collection)
    await page.click("#ask-form button[type=submit]")
    await page.wait_for_url("**/ui/jobs/answer-*")
    lengths: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            length = await page.evaluate(ANSWER_LENGTH)
            if length > 0 and (not lengths or length != lengths[-1]):
                lengths.append(length)
                if len(lengths) == 3:
                    await shoot(page, "job-streaming")
            if await page.locator("#status.s-completed").count():
                break
        except Exception:  # the page reloads itself when the job closes
            pass
        await asyncio.sleep(0.05)
    assert len(lengths) >= 3, f"the answer did not arrive token by token: {lengths}"
    assert await page.inner_text("#status") == "completed"
    assert "Comet Veyra" in await page.inner_text("#answer")
    assert await page.locator("#citations li blockquote").count() >= 1
    assert (await page.inner_text("#total-cost")).startswith("$")
    assert await page.locator("#costs tbody tr").count() >= 2
    assert await page.locator("#waterfall .bar.queue").count() >= 1
    assert await page.locator("#waterfall .bar.attempt").count() >= 1
    assert "/namespaces/" in (await page.get_attribute("#web-ui", "href") or "")
    await shoot(page, "job")
    await page.goto("/ui/jobs")
    await shoot(page, "jobs")
    await context.close()


async def test_jobs_list_filters_and_updates_live(
    browser: Browser, console: GatewayUnderTest, api: httpx.AsyncClient
) -> None:
    context, page = await signed_in(browser, console, console.keys[0])
    for label in ("#stat-backlog", "#stat-inflight", "#stat-spend"):  # the deployment's figures at the top
        assert (await page.inner_text(label)).strip()
    assert (await page.inner_text("#stat-spend")).startswith("$")
    await page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    body = {"question": f"Who catalogued Comet Veyra? {uuid.uuid4().hex[:8]}", "collection": console.collection}
    job = (await api.post("/v1/answers", json=body)).json()["job_id"]
    row = f"tr[data-job='{job}']"
    # Submitted after the page loaded: the table's refresh brings it in, no reload.
    await page.wait_for_selector(row, timeout=60_000)
    assert await page.evaluate("window.loadedOnce === true")
    await status_of(api, job, "completed")
    await page.wait_for_selector(f"{row} .s-completed", timeout=60_000)  # and its status follows

    async def shown(query: str) -> bool:
        await reload_until(page, f"/ui/jobs?{query}", "table.jobs")
        return await page.locator(row).count() == 1

    await page.goto("/ui/jobs")
    await page.select_option("select[name=pipeline]", "answer")
    await page.select_option("select[name=status]", "completed")
    await page.select_option("select[name=age]", "1h")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url("**/ui/jobs?status=completed&pipeline=answer&age=1h")
    assert await page.locator(row).count() == 1
    assert all(s == "completed" for s in await page.locator("table.jobs .status").all_inner_texts())
    assert not await shown("pipeline=agent") and not await shown("status=problems")
    assert not await shown("status=running&pipeline=answer")
    bad = await context.request.get(f"{console.url}/ui/jobs?status=nonsense")
    assert bad.status == 422 and "unknown status" in await bad.text()
    await context.close()


async def test_agent_paused_is_approved_in_the_page(
    browser: Browser, console: GatewayUnderTest, api: httpx.AsyncClient
) -> None:
    context, page = await signed_in(browser, console, console.keys[0])
    await page.goto("/ui/new")
    await page.fill("#agent-form textarea[name=task]", f"Research comets [[sim:toolloop#{uuid.uuid4().hex[:8]}]]")
    await page.fill("#agent-form input[name=max_depth]", "2")
    await page.click("#agent-form button[type=submit]")
    await page.wait_for_url("**/ui/jobs/agent-*")
    job = page.url.rsplit("/", 1)[1]
    await status_of(api, job, "awaiting_approval")
    card = f"article.approval[data-job='{job}']"
    await reload_until(page, "/ui/approvals", card)
    assert "depth" in await page.inner_text(card)
    spend = await page.inner_text(f"{card} .spend .usd")  # dollars from the paused run's ledger, priced
    assert spend.startswith("$") and float(spend[1:].replace(",", "")) > 0, spend
    await shoot(page, "approvals")
    await page.fill(f"{card} form.approve input[name=note]", "one more step is fine")
    await page.click(f"{card} form.approve button[type=submit]")
    await page.wait_for_selector("#done")
    assert (await api.get(f"/v1/jobs/{job}")).json()["status"] in ("running", "awaiting_approval")

    await page.goto(f"/ui/jobs/{job}")
    approvals = await page.inner_text("#approvals")
    assert key_id(console.keys[0]) in approvals and "one more step is fine" in approvals
    await status_of(api, job, "awaiting_approval")  # it ran one more call and paused again: reject it here
    await reload_until(page, "/ui/approvals", card)
    await page.fill(f"{card} form.reject input[name=reason]", "enough")
    await page.click(f"{card} form.reject button[type=submit]")
    info = await status_of(api, job, "completed")
    assert info["outcome"] == "rejected"
    assert [a["approver"] for a in info["result"]["approvals"]] == [key_id(console.keys[0])] * 2
    await context.close()


async def test_dead_letter_under_failed_filter_and_replayed_from_the_page(
    browser: Browser, console: GatewayUnderTest, api: httpx.AsyncClient
) -> None:
    question = f"Who catalogued Comet Veyra? [[sim:500x5#{uuid.uuid4().hex[:8]}]]"
    job = (await api.post("/v1/answers", json={"question": question, "collection": console.collection})).json()
    job_id = job["job_id"]
    await status_of(api, job_id, "dead_lettered")
    context, page = await signed_in(browser, console, console.keys[0])
    await page.click("#failed-filter")
    row = f"tr[data-job='{job_id}']"
    await reload_until(page, "/ui/jobs?status=problems", row)
    listed = await page.inner_text(row)
    assert "dead_lettered" in listed and "retrieve: Transient" in listed, listed  # with its reason
    await shoot(page, "jobs-failed")
    card = f"article.dead-letter[data-job='{job_id}']"
    await reload_until(page, "/ui/dead-letters", card)
    text = await page.inner_text(card)
    assert "retrieve" in text and "Transient" in text and "5" in text
    await shoot(page, "dead-letters")
    await page.goto(f"/ui/jobs/{job_id}")
    retrieve = page.locator("#waterfall .wf-row", has_text="retrieve")
    assert await retrieve.locator(".bar.attempt").count() == 5  # four from the event stream, the last from history
    # Each attempt's failure class: the first four named by the next attempt's `step.retrying`, the last by history.
    bars = retrieve.locator(".bar.attempt")
    titles = [await bars.nth(i).get_attribute("title") or "" for i in range(5)]
    assert all("Transient" in title for title in titles), titles
    assert "after 5 attempt" in await page.inner_text("#job-error")
    await shoot(page, "job-dead-lettered")
    await page.goto("/ui/dead-letters")
    await page.click(f"{card} form.replay button[type=submit]")
    await page.wait_for_url(f"**/ui/jobs/{job_id}-replay-1")
    await page.wait_for_selector("#status.s-completed", timeout=90_000)
    await context.close()


async def test_big_result_and_big_document_pages_load_fast(
    browser: Browser, console: GatewayUnderTest, api: httpx.AsyncClient, client: Client
) -> None:
    owner = key_id(console.keys[0])
    big_id = f"answer-big-{uuid.uuid4().hex[:12]}"
    queue = f"{console.settings.task_queue_prefix}console-big"
    async with Worker(client, task_queue=queue, workflows=[BigResult], workflow_runner=UnsandboxedWorkflowRunner()):
        attrs = [SearchAttributePair(sa.PIPELINE, "answer"), SearchAttributePair(sa.OWNER, owner)]
        handle = await client.start_workflow(
            "ConsoleBigResult", "How big?", id=big_id, task_queue=queue,
            search_attributes=TypedSearchAttributes(attrs), memo={"owner": owner},
        )  # fmt: skip
        await handle.result()
    document = b"# Ten megabytes\n\n" + b"The keeper logged each passing ship and the weather that day.\n" * 165_000
    assert len(document) > 10_000_000
    upload = await api.post("/v1/documents", files={"file": ("ten.md", document, "text/markdown")},
                            data={"collection": f"ten-{uuid.uuid4().hex[:8]}"})  # fmt: skip
    assert upload.status_code == 202, upload.text
    ingest_id = upload.json()["job_id"]

    context, page = await signed_in(browser, console, console.keys[0])
    try:
        await dcl_ms(page, f"/ui/jobs/{big_id}")  # warm the gateway's connection to Temporal
        elapsed = await dcl_ms(page, f"/ui/jobs/{big_id}")
        print(f"DOMContentLoaded: 1.5 MB result {elapsed:.0f} ms")
        assert elapsed < 2000, f"the 1.5 MB result's page took {elapsed:.0f} ms"
        assert await page.locator("#answer-truncated").count() == 1
        download = await context.request.get(f"{console.url}/ui/jobs/{big_id}/result.json")
        assert len(await download.body()) > 1_500_000
        elapsed = await dcl_ms(page, f"/ui/jobs/{ingest_id}")
        print(f"DOMContentLoaded: 10 MB document's ingestion {elapsed:.0f} ms")
        assert elapsed < 2000, f"the 10 MB document's ingestion page took {elapsed:.0f} ms"
        assert ingest_id in await page.inner_text("h1")
    finally:
        await context.close()
        await api.delete(f"/v1/jobs/{ingest_id}")  # the test is about the page, not the indexing
