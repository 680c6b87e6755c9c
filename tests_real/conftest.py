"""Real models on loopback: the llama-servers `make local-llm` prepared, beside Temporal, Redis, Chroma and the sim.

`make test-real` runs this directory (`make test` collects only tests/). Nothing here is skipped when a server or the
prepared models are missing: the session errors with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from openai import AsyncOpenAI

from launcher.local_models import load_manifest
from runtime.devservers import loopback_servers
from runtime.settings import get_settings
from schemas.local_models import LocalModels
from tests.conftest import client, sim_factory, state_dir, unique  # noqa: F401 - the same session fixtures

# A fixed sampling seed on every real chat request; temperature 0 makes decoding greedy besides.
SEED = 42


@pytest.fixture(scope="session")
def local_models() -> LocalModels:
    """What `make local-llm` prepared (the session fails with that command when it did not)."""
    return load_manifest(get_settings())


@pytest.fixture(scope="session")
def servers(state_dir: Path, local_models: LocalModels) -> Iterator[dict[str, str]]:  # noqa: F811
    """Temporal, Redis, Chroma, the simulator and both llama-servers; settings point at the llama-servers."""
    with loopback_servers(state_dir, local=local_models) as (env, _procs):
        yield {
            **env,
            "sim_url": f"http://127.0.0.1:{env['GENAI_FLOW_SIM_PORT']}",
            "chat_url": f"http://127.0.0.1:{env['GENAI_FLOW_LOCAL_LLM_PORT']}",
            "embed_url": f"http://127.0.0.1:{env['GENAI_FLOW_LOCAL_EMBED_PORT']}",
        }


@pytest_asyncio.fixture
async def real_chat(servers: dict[str, str]) -> AsyncIterator[AsyncOpenAI]:
    """The official client on the real chat server."""
    llm = AsyncOpenAI(base_url=f"{servers['chat_url']}/v1", api_key="local", max_retries=0, timeout=300)
    yield llm
    await llm.close()


@pytest_asyncio.fixture
async def real_embed(servers: dict[str, str]) -> AsyncIterator[AsyncOpenAI]:
    """The official client on the real embeddings server."""
    llm = AsyncOpenAI(base_url=f"{servers['embed_url']}/v1", api_key="local", max_retries=0, timeout=120)
    yield llm
    await llm.close()
