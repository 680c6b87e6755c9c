"""Session-wide real servers on loopback (Temporal dev server, Redis, Chroma, the simulator) on random ports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio
from openai import AsyncOpenAI
from temporalio.client import Client

from runtime import services
from runtime.devservers import loopback_servers
from runtime.processes import ManagedProcess, free_port
from runtime.settings import Settings, get_settings


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for every server this test session starts."""
    return tmp_path_factory.mktemp("genai-flow-state")


@pytest.fixture(scope="session")
def servers(state_dir: Path) -> Iterator[dict[str, str]]:
    """Start Temporal, Redis, Chroma and the simulator once; point the settings at them."""
    with loopback_servers(state_dir) as (env, _procs):
        yield {**env, "sim_url": f"http://127.0.0.1:{env['GENAI_FLOW_SIM_PORT']}"}


@pytest_asyncio.fixture(scope="session")
async def client(servers: dict[str, str]) -> AsyncIterator[Client]:
    """A Temporal client with the project's data converter."""
    from runtime.temporal import connect

    yield await connect(get_settings())


@pytest.fixture
def unique() -> str:
    """A short unique suffix for task queues, workflow ids, key prefixes and collections."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def sim_factory(state_dir: Path) -> Iterator[Callable[..., str]]:
    """Start extra simulators with their own flags (e.g. `sim_factory("--concurrency", "2")`); returns base URLs."""
    started: list[ManagedProcess] = []

    def start(*flags: str) -> str:
        port = free_port()
        started.append(services.simulator(state_dir, port, list(flags)).start(timeout=60))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def isolated_settings(servers: dict[str, str], unique: str) -> Settings:
    """Settings of this test's own: a unique Redis key prefix, the cross-job inference cache off."""
    return get_settings().model_copy(update={"key_prefix": f"t{unique}", "cross_job_cache": False})


@pytest_asyncio.fixture
async def isolated_redis(isolated_settings: Settings) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of the session's Redis (strings in and out), closed after the test."""
    from runtime.redis import redis_client

    client = redis_client(isolated_settings)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def llm(sim_url: str) -> AsyncIterator[AsyncOpenAI]:
    """The official OpenAI client pointed at the module's simulator (its `sim_url` fixture), retries off."""
    client = AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="sim", max_retries=0)
    yield client
    await client.close()


@dataclass
class GatewayUnderTest:
    """A real `genai-flow gateway` (uvicorn) on a random loopback port, with its own queues, Redis keys and API keys."""

    url: str
    keys: list[str]
    settings: Settings
    process: ManagedProcess
    collection: str = ""  # a collection with the sample facts indexed (the shared `gateway` fixture fills it)

    def auth(self, key: str | None = None) -> dict[str, str]:
        """The Authorization header of `key` (default: the first key)."""
        return {"Authorization": f"Bearer {key or self.keys[0]}"}


@pytest.fixture(scope="session")
def gateway_factory(servers: dict[str, str], state_dir: Path) -> Iterator[Callable[..., GatewayUnderTest]]:
    """Start extra gateways with their own environment overrides (`gateway_factory(GENAI_FLOW_RATE_LIMIT="2/m")`)."""
    from runtime.devservers import _start_on_free_port

    started: list[ManagedProcess] = []

    def start(port: int | None = None, **overrides: str) -> GatewayUnderTest:
        """`port`: one the caller reserved (something else must know the gateway's URL before it starts)."""
        unique = uuid.uuid4().hex[:8]
        keys = [f"key-a-{unique}", f"key-b-{unique}"]
        env = {
            "GENAI_FLOW_API_KEYS": ",".join(keys),
            "GENAI_FLOW_TASK_QUEUE_PREFIX": f"g{unique}-",
            "GENAI_FLOW_KEY_PREFIX": f"g{unique}",
            "GENAI_FLOW_RATE_LIMIT": "off",
            "GENAI_FLOW_SSE_KEEPALIVE_S": "1",
            **overrides,
        }

        def build(port: int) -> ManagedProcess:
            proc = services.gateway(state_dir, port)
            proc.env = env
            return proc

        if port is None:
            port, proc = _start_on_free_port(build)
        else:
            proc = build(port).start(timeout=90)
        started.append(proc)
        settings = get_settings().model_copy(
            update={
                "task_queue_prefix": env["GENAI_FLOW_TASK_QUEUE_PREFIX"],
                "key_prefix": env["GENAI_FLOW_KEY_PREFIX"],
                "api_keys": env["GENAI_FLOW_API_KEYS"].split(",") if env["GENAI_FLOW_API_KEYS"] else [],
            }
        )
        return GatewayUnderTest(f"http://127.0.0.1:{port}", keys, settings, proc)

    yield start
    for proc in started:
        proc.stop()


@pytest_asyncio.fixture(scope="session")
async def gateway(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayUnderTest]:
    """A shared gateway with every worker running on its queues and the sample facts indexed into `gw.collection`."""
    from tests.helpers import index_facts, running_workers

    gw = gateway_factory()
    gw.collection = f"facts-{gw.settings.key_prefix}"
    await index_facts(tmp_path_factory.mktemp("gateway-corpus"), gw.collection, gw.settings)
    async with running_workers(client, gw.settings):
        yield gw


@pytest.fixture(scope="session")
def aws(servers: dict[str, str]) -> Iterator[str]:
    """moto's S3/SQS/SNS server on a loopback port, reached through the standard AWS variables; yields its URL."""
    from moto.server import ThreadedMotoServer

    from runtime.devservers import environment

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Service-specific endpoints, as a deployment against MinIO would set them.
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ENDPOINT_URL_SQS": url,
        "AWS_ENDPOINT_URL_SNS": url,
    }
    try:
        with environment(env):
            yield url
    finally:
        server.stop()
