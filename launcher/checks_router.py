"""Doctor checks of the models file's endpoints: each endpoint answers each model it is listed for.

Each endpoint is called directly (not through the router), so a dead backup is reported by name even while the
primary serves everything. One finding per endpoint and model; bounded like every other check.
"""

from __future__ import annotations

import asyncio
import os

import openai

from launcher.checks import BAD, DOWN, MODEL_TIMEOUT_S, OK, reason
from runtime.models_file import load_models
from runtime.settings import Settings
from schemas.doctor import Finding
from schemas.models_file import Endpoint


async def endpoint_checks(settings: Settings) -> list[Finding]:
    """A one-token chat or one embedding per (endpoint, model) of the chat and embedding models' lists."""
    assert settings.models_file is not None
    models = load_models(settings.models_file)
    probes = [
        _probe(name, endpoint, model, embeddings)
        for logical, embeddings in ((settings.chat_model, False), (settings.embed_model, True))
        for name, endpoint, model in models.route(logical)
    ]
    return list(await asyncio.gather(*probes))


async def _probe(name: str, endpoint: Endpoint, model: str, embeddings: bool) -> Finding:
    check = f"endpoint {name} ({'embeddings' if embeddings else 'chat'})"
    key = os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else os.environ.get("OPENAI_API_KEY", "")
    llm = openai.AsyncOpenAI(base_url=endpoint.url, api_key=key or "none", max_retries=0, timeout=MODEL_TIMEOUT_S)
    try:
        if embeddings:
            await llm.embeddings.create(model=model, input="ping")
        else:
            await llm.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
    except (openai.APIConnectionError, openai.APITimeoutError) as err:
        fix = f"start the server at {endpoint.url} or fix endpoints.{name}.base_url in the models file"
        return Finding(check=check, status=DOWN, detail=f"cannot reach {endpoint.url}: {reason(err)}", fix=fix)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
        env = endpoint.api_key_env or "OPENAI_API_KEY"
        return Finding(check=check, status=BAD, detail=f"{endpoint.url} refused the key: {reason(err)}",
                       fix=f"set {env} to a key this endpoint accepts")  # fmt: skip
    except openai.RateLimitError:
        return Finding(check=check, status=OK, detail=f"{model!r} at {endpoint.url} is up (answered 429: at its limit)")
    except openai.APIStatusError as err:
        detail = f"{endpoint.url} answered HTTP {err.status_code} for model {model!r}: {reason(err)}"
        return Finding(check=check, status=BAD, detail=detail, fix=f"check endpoints.{name} and the models listing it")
    finally:
        await llm.close()
    return Finding(check=check, status=OK, detail=f"{model!r} answers at {endpoint.url}")
