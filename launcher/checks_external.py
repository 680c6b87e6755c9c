"""Doctor checks of the services outside the stack's own processes: the model endpoint and S3.

Same rules as launcher/checks.py: async, bounded, findings instead of exceptions.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from launcher.checks import BAD, DOWN, MODEL_TIMEOUT_S, OK, SKIP, reason
from runtime.settings import LLMBackend, Settings
from schemas.doctor import Finding

# -- the model endpoint ----------------------------------------------------------------------------------------------


def _model_endpoints(settings: Settings) -> dict[str, tuple[str, str]]:
    """Per check, (base URL, the setting that chooses it): embeddings may live on their own server."""
    chat_setting = {LLMBackend.SIM: "GENAI_FLOW_SIM_PORT", LLMBackend.LOCAL: "GENAI_FLOW_LOCAL_LLM_PORT"}.get(
        settings.llm, "OPENAI_BASE_URL"
    )
    if settings.embed_base_url:
        embed_setting = "GENAI_FLOW_EMBED_BASE_URL"
    elif settings.llm is LLMBackend.LOCAL:
        embed_setting = "GENAI_FLOW_LOCAL_EMBED_PORT"  # llama-server answers embeddings on its own port only
    else:
        embed_setting = chat_setting
    return {
        "model chat": (settings.llm_base_url, chat_setting),
        "model embeddings": (settings.embed_url, embed_setting),
    }


def _unreachable_fix(settings: Settings, base_setting: str) -> str:
    if settings.llm is LLMBackend.SIM:
        return "start the simulator with `genai-flow up` (or `genai-flow sim`)"
    if base_setting.startswith("GENAI_FLOW_LOCAL_"):
        return f"start the local model servers with `genai-flow up` (GENAI_FLOW_LLM=local), or set {base_setting}"
    return f"set {base_setting} to your OpenAI-compatible endpoint (with its /v1)"


async def model_checks(settings: Settings) -> list[Finding]:
    """A one-token chat completion at the chat endpoint and one embedding at the embeddings endpoint.

    With a models file, each endpoint of the file instead.
    """
    if settings.models_file is not None:
        from launcher.checks_router import endpoint_checks

        return await endpoint_checks(settings)
    import openai

    from activities.llm import make_llm

    bounded = settings.model_copy(update={"inference_timeout_s": MODEL_TIMEOUT_S, "max_concurrent_activities": 2})
    endpoints = _model_endpoints(settings)
    clients = {url: make_llm(bounded, url) for url, _ in endpoints.values()}

    async def chat(llm: openai.AsyncOpenAI) -> object:
        messages = [{"role": "user", "content": "ping"}]
        return await llm.chat.completions.create(model=settings.chat_model, messages=messages, max_tokens=1)  # type: ignore[arg-type]

    async def embed(llm: openai.AsyncOpenAI) -> object:
        return await llm.embeddings.create(model=settings.embed_model, input="ping")

    calls: dict[str, tuple[str, str, Callable[[openai.AsyncOpenAI], Awaitable[object]]]] = {
        "model chat": (settings.chat_model, "GENAI_FLOW_CHAT_MODEL", chat),
        "model embeddings": (settings.embed_model, "GENAI_FLOW_EMBED_MODEL", embed),
    }
    found = []
    unreachable: set[str] = set()
    try:
        for check, (model, model_setting, call) in calls.items():
            url, base_setting = endpoints[check]
            if url in unreachable:
                continue  # the same endpoint again would only say the same
            where = f"{url} (GENAI_FLOW_LLM={settings.llm.value})"
            try:
                await call(clients[url])
            except (openai.APIConnectionError, openai.APITimeoutError) as err:
                unreachable.add(url)
                found.append(Finding(check=check, status=DOWN, detail=f"cannot reach {where}: {reason(err)}",
                                     fix=_unreachable_fix(settings, base_setting)))  # fmt: skip
            except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
                found.append(Finding(check=check, status=BAD, detail=f"{where} refused the key: {reason(err)}",
                                     fix="set OPENAI_API_KEY to a key this endpoint accepts"))  # fmt: skip
            except openai.NotFoundError as err:
                about_model = model in str(err) or "model" in str(err).lower()
                fix = (f"set {model_setting} to a model the endpoint serves" if about_model
                       else f"set {base_setting} to the endpoint's API root (usually ending in /v1)")  # fmt: skip
                found.append(Finding(check=check, status=BAD, detail=f"{where} answered 404 for model {model!r}: "
                                     f"{reason(err)}", fix=fix))  # fmt: skip
            except openai.APIStatusError as err:
                found.append(Finding(check=check, status=BAD, detail=f"{where} answered HTTP {err.status_code} for "
                                     f"model {model!r}: {reason(err)}",
                                     fix=f"check {base_setting}, {model_setting} and OPENAI_API_KEY"))  # fmt: skip
            else:
                found.append(Finding(check=check, status=OK, detail=f"{model!r} answers at {where}"))
    finally:
        for llm in clients.values():
            await llm.close()
    return found


# -- S3, encryption keys ---------------------------------------------------------------------------------------------

AWS_HINTS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def s3_configured(settings: Settings) -> bool:
    """Whether S3 is in use: allowed buckets, or any of the AWS variables set."""
    return bool(settings.allowed_buckets) or any(os.environ.get(name) for name in AWS_HINTS)


async def s3_checks(settings: Settings) -> list[Finding]:
    """When S3 is configured: credentials work and each allowed bucket exists and is readable."""
    if not s3_configured(settings):
        return [Finding(check="s3", status=SKIP, detail="not configured (no GENAI_FLOW_ALLOWED_BUCKETS, no AWS_*)")]
    # Imported only when configured (seconds of import; launcher/doctor.py imports it before the probes start).
    import aioboto3
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3"
    buckets = [b for b in settings.allowed_buckets if b != "*"]
    found: list[Finding] = []
    async with aioboto3.Session().client("s3") as s3:
        try:
            if not buckets:
                await s3.list_buckets()
                return [Finding(check="s3", status=OK, detail=f"credentials accepted by {endpoint}")]
            for bucket in buckets:
                try:
                    await s3.head_bucket(Bucket=bucket)
                except ClientError as err:
                    code = str(err.response.get("Error", {}).get("Code", ""))
                    gone = code in ("404", "NoSuchBucket", "NotFound")
                    found.append(Finding(
                        check=f"s3 bucket {bucket}",
                        status=BAD,
                        detail=f"bucket {bucket!r} does not exist at {endpoint}" if gone
                        else f"the credentials may not read bucket {bucket!r} at {endpoint} ({code})",
                        fix=f"create it (`aws s3 mb s3://{bucket}`) or remove it from GENAI_FLOW_ALLOWED_BUCKETS"
                        if gone else f"grant s3:ListBucket and s3:GetObject on {bucket} to these AWS credentials",
                    ))  # fmt: skip
                else:
                    found.append(Finding(check=f"s3 bucket {bucket}", status=OK, detail=f"readable at {endpoint}"))
        except NoCredentialsError:
            return [Finding(check="s3", status=BAD, detail="S3 is configured but no AWS credentials were found",
                            fix="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)")]  # fmt: skip
        except EndpointConnectionError as err:
            return [Finding(check="s3", status=DOWN, detail=f"cannot reach {endpoint}: {reason(err)}",
                            fix="set AWS_ENDPOINT_URL_S3 to your S3 endpoint (or unset it for AWS)")]  # fmt: skip
        except (ClientError, BotoCoreError) as err:
            return [Finding(check="s3", status=BAD, detail=f"{endpoint} refused the credentials: {reason(err)}",
                            fix="set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to working credentials")]  # fmt: skip
    return found
