"""With encryption on, the Temporal Web UI shows a run's decrypted input to a user signed into the console.

The stack is what `genai-flow up` starts: a Temporal dev server whose embedded Web UI has its codec endpoint set to
the gateway's `/codec` (runtime/services.py), and an encrypting gateway. The Web UI calls `/codec/decode` from the
browser, cross-origin and without a bearer key; with "Include cross-origin credentials" on (a per-browser setting of
the Web UI: the dev server cannot set it) the console's session cookie goes along and the gateway decodes.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Response
from rich.console import Console

from gateway.auth import key_id
from launcher.stack import Stack
from runtime import services
from runtime.processes import ManagedProcess, free_port
from runtime.settings import get_settings
from runtime.temporal import connect
from schemas.answer import AnswerRequest
from schemas.jobs import Pipeline
from starter.client import GenAIFlowClient
from tests.conftest import GatewayUnderTest
from tests.console_pages import chromium, shoot, signed_in


@pytest.fixture(scope="module")
def encrypted_stack(
    servers: dict[str, str], gateway_factory: Callable[..., GatewayUnderTest], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayUnderTest, int]]:
    """A dev server with its Web UI pointed at an encrypting gateway's `/codec`; yields (gateway, Web UI port)."""
    state = tmp_path_factory.mktemp("webui-state")
    (state / "logs").mkdir()
    temporal_port, ui_port, gateway_port = free_port(), free_port(), free_port()
    codec = f"http://127.0.0.1:{gateway_port}/codec"  # as `up` sets it: the gateway's URL is known before it starts
    temporal: ManagedProcess = services.temporal_server(state, temporal_port, ui_port, codec_endpoint=codec)
    temporal.start(timeout=90)
    keys = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    try:
        gw = gateway_factory(
            port=gateway_port,
            TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
            GENAI_FLOW_TEMPORAL_UI_PORT=str(ui_port),
            GENAI_FLOW_ENCRYPTION_KEYS=keys,
        )
        gw.settings = gw.settings.model_copy(
            update={"temporal_address": f"127.0.0.1:{temporal_port}", "encryption_keys": [keys]}
        )
        yield gw, ui_port
    finally:
        temporal.stop()


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the module."""
    async with chromium() as launched:
        yield launched


async def decode_statuses(page: Page, url: str, wanted: int) -> list[int]:
    """Open url and collect the statuses of the Web UI's `/codec/decode` calls until `wanted` of them answered."""
    statuses: list[int] = []

    def seen(response: Response) -> None:
        if "/codec/decode" in response.url:
            statuses.append(response.status)

    page.on("response", seen)
    await page.goto(url)
    for _ in range(300):
        if len(statuses) >= wanted:
            break
        await page.wait_for_timeout(100)
    page.remove_listener("response", seen)
    return statuses


async def test_web_ui_shows_the_decrypted_input_to_a_signed_in_user(
    browser: Browser, encrypted_stack: tuple[GatewayUnderTest, int]
) -> None:
    gw, ui_port = encrypted_stack
    secret = f"Who keeps the Orchard ledger? marker-{uuid.uuid4().hex[:12]}"
    flow = GenAIFlowClient(await connect(gw.settings), gw.settings)
    # No worker needs to run it: the input is in the run's first event, encrypted by the client.
    job = (await flow.start(Pipeline.ANSWER, AnswerRequest(question=secret), owner=key_id(gw.keys[0]))).job_id
    history = await flow.temporal.get_workflow_handle(job).fetch_history()
    assert secret.encode() not in b"".join(e.SerializeToString() for e in history.events)

    context, page = await signed_in(browser, gw, gw.keys[0])
    await page.goto(f"/ui/jobs/{job}")
    run_url = await page.get_attribute("#web-ui", "href")
    assert run_url == f"http://127.0.0.1:{ui_port}/namespaces/default/workflows/{job}"

    # The Web UI as `up` configures it: its codec endpoint is the gateway's, but by default its cross-origin
    # fetch carries no cookie, so the gateway refuses it (401) and the page shows ciphertext.
    refused = await decode_statuses(page, run_url, 1)
    assert refused and set(refused) == {401}, refused
    await page.locator("[data-testid=input-and-result]").wait_for()
    assert secret not in await page.inner_text("body")

    # The one step a user takes once per browser: the codec settings (the glasses icon), "Use my browser setting",
    # the same endpoint, "Include cross-origin credentials" on.
    await page.click("[data-testid^=data-encoder-status]")
    await page.check("[data-testid=use-local-endpoint-input]")
    await page.get_by_placeholder("Paste your endpoint here").fill(f"{gw.url}/codec")
    await page.get_by_text("Include cross-origin credentials", exact=True).click()
    assert await page.is_checked("#pass-access-credentials")
    await page.click("[data-testid=confirm-modal-button]")

    decoded = await decode_statuses(page, run_url, 1)
    assert decoded and set(decoded) == {200}, decoded
    await page.get_by_text(secret).first.wait_for(timeout=30_000)
    await shoot(page, "webui-decoded", widths=("laptop",))

    # Signed out, the same call from the Web UI's page, credentials included, is refused: the cookie is the key.
    await context.clear_cookies()
    status = await page.evaluate(
        """endpoint => fetch(endpoint + "/decode", {method: "POST", credentials: "include",
             headers: {"Content-Type": "application/json", "X-Namespace": "default"}, body: '{"payloads": []}'})
           .then(r => r.status)""",
        f"{gw.url}/codec",
    )
    assert status == 401
    await context.close()


def test_up_points_the_web_ui_at_the_codec_and_says_what_the_browser_needs(tmp_path: Path) -> None:
    keys = [f"k1:{base64.b64encode(os.urandom(32)).decode()}"]
    settings = get_settings().model_copy(
        update={"encryption_keys": keys, "temporal_address": "127.0.0.1:7233", "gateway_port": 8000, "home": tmp_path}
    )
    out = Console(record=True, width=200)
    stack = Stack(settings, out)  # planned only: nothing starts
    [temporal] = [c for c in stack.components if c.name == "temporal" and c.process]
    argv = list(temporal.process.argv)  # type: ignore[union-attr]
    assert argv[argv.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8000/codec"
    stack.print_summary()
    assert "'Include cross-origin credentials' on" in out.export_text()
