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


async def model_checks(settings: Settings) -> list[Finding]:
    """A one-token chat completion and one embedding at the configured endpoint (each endpoint of a models file)."""
    if settings.models_file is not None:
        from launcher.checks_router import endpoint_checks

        return await endpoint_checks(settings)
    import openai

    from activities.llm import make_llm

    base_setting = "GENAI_FLOW_SIM_PORT" if settings.llm is LLMBackend.SIM else "OPENAI_BASE_URL"
    llm = make_llm(settings.model_copy(update={"inference_timeout_s": MODEL_TIMEOUT_S, "max_concurrent_activities": 2}))

    async def chat() -> object:
        messages = [{"role": "user", "content": "ping"}]
        return await llm.chat.completions.create(model=settings.chat_model, messages=messages, max_tokens=1)  # type: ignore[arg-type]

    async def embed() -> object:
        return await llm.embeddings.create(model=settings.embed_model, input="ping")

    calls: dict[str, tuple[str, str, Callable[[], Awaitable[object]]]] = {
        "model chat": (settings.chat_model, "GENAI_FLOW_CHAT_MODEL", chat),
        "model embeddings": (settings.embed_model, "GENAI_FLOW_EMBED_MODEL", embed),
    }
    found = []
    where = f"{settings.llm_base_url} (GENAI_FLOW_LLM={settings.llm.value})"
    try:
        for check, (model, model_setting, call) in calls.items():
            try:
                await call()
            except (openai.APIConnectionError, openai.APITimeoutError) as err:
                sim = settings.llm is LLMBackend.SIM
                fix = ("start the simulator with `genai-flow up` (or `genai-flow sim`)" if sim
                       else f"set {base_setting} to your OpenAI-compatible endpoint (with its /v1)")  # fmt: skip
                found.append(Finding(check=check, status=DOWN, detail=f"cannot reach {where}: {reason(err)}",
                                     fix=fix))  # fmt: skip
                break  # the second call would only say the same
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
        await llm.close()
    return found


# -- S3, encryption keys ---------------------------------------------------------------------------------------------

AWS_HINTS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


async def s3_checks(settings: Settings) -> list[Finding]:
    """When S3 is configured: credentials work and each allowed bucket exists and is readable."""
    import aioboto3
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if not settings.allowed_buckets and not any(os.environ.get(name) for name in AWS_HINTS):
        return [Finding(check="s3", status=SKIP, detail="not configured (no GENAI_FLOW_ALLOWED_BUCKETS, no AWS_*)")]
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
