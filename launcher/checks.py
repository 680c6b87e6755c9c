"""The checks of `genai-flow doctor`: each probes one configured component and says what fixes a failure.

Every check is async, bounded by its own timeouts, and returns findings (schemas/doctor.py); none raises for a
failed probe. Statuses: `unreachable` when nothing answers, `misconfigured` when something answers but is set up
wrong, `invalid` for a setting that cannot be used.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from runtime.settings import Settings
from schemas.doctor import CheckStatus, Finding
from schemas.search_attributes import CLI_TYPES

if TYPE_CHECKING:
    from temporalio.client import Client

TIMEOUT_S = 5.0
MODEL_TIMEOUT_S = 20.0
# An idle worker long-polls for about a minute, so its last poll can be that old; older pollers have gone.
POLLER_FRESH = timedelta(minutes=2)

OK, BAD, INVALID, DOWN, SKIP = (
    CheckStatus.OK,
    CheckStatus.MISCONFIGURED,
    CheckStatus.INVALID,
    CheckStatus.UNREACHABLE,
    CheckStatus.SKIPPED,
)


def reason(err: BaseException) -> str:
    """A failure in one line: the exception type and the first line of its message."""
    text = str(err).strip().splitlines()
    if text and "ConnectionRefused" in text[0]:  # the Temporal client's Rust error chain, said plainly
        return "connection refused"
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


async def http_status(url: str) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            return (await http.get(url)).status_code
    except httpx.HTTPError:
        return None


# -- Temporal --------------------------------------------------------------------------------------------------------


async def temporal_client(settings: Settings) -> Client | Finding:
    """A connected client, or the finding that says why there is none."""
    from runtime.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings), TIMEOUT_S)
    except (TimeoutError, RuntimeError, OSError) as err:
        return Finding(
            check="temporal",
            status=DOWN,
            detail=f"cannot reach Temporal at {settings.temporal_address}: {reason(err)}",
            fix="start the stack with `genai-flow up`, or set TEMPORAL_ADDRESS to your Temporal frontend",
        )


async def temporal_checks(settings: Settings, queues: list[str] | None) -> list[Finding]:
    """Temporal reachable, the namespace, our search attributes, and a worker polling each task queue."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.service import RPCError, RPCStatusCode

    client = await temporal_client(settings)
    if isinstance(client, Finding):
        return [client]
    ns = settings.temporal_namespace
    found = [Finding(check="temporal", status=OK, detail=f"reachable at {settings.temporal_address}")]
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=ns), timeout=timedelta(
            seconds=TIMEOUT_S))  # fmt: skip
    except RPCError as err:
        missing = err.status is RPCStatusCode.NOT_FOUND
        return [*found, Finding(
            check="namespace",
            status=BAD if missing else DOWN,
            detail=f"namespace {ns!r} does not exist" if missing else f"cannot describe namespace {ns!r}: {err}",
            fix=f"`temporal operator namespace create --namespace {ns} --address {settings.temporal_address}`, "
                "or set TEMPORAL_NAMESPACE to an existing namespace",
        )]  # fmt: skip
    found.append(Finding(check="namespace", status=OK, detail=f"{ns!r} exists"))

    pollers: list[Finding] = []
    try:
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=ns), timeout=timedelta(seconds=TIMEOUT_S)
        )
        if queues is not None:
            pollers = await _pollers(client, settings, queues)
    except RPCError as err:  # e.g. an API key that may start workflows but not read the namespace's setup
        gone = err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        return [*found, Finding(
            check="temporal", status=DOWN if gone else BAD, detail=f"the frontend refused a read: {err}",
            fix="check that TEMPORAL_API_KEY (or the client certificate) may read search attributes and task queues",
        )]  # fmt: skip
    registered = {name: IndexedValueType.Name(kind) for name, kind in response.custom_attributes.items()}
    wrong = []
    for name, kind in CLI_TYPES.items():
        expected = f"INDEXED_VALUE_TYPE_{kind.upper()}"
        if registered.get(name) != expected:
            have = registered.get(name, "").removeprefix("INDEXED_VALUE_TYPE_").title() or "missing"
            wrong.append((name, kind, have))
    if wrong:
        found.append(Finding(
            check="search attributes",
            status=BAD,
            detail="not registered as needed: " + ", ".join(f"{n} ({have}, needs {k})" for n, k, have in wrong),
            fix=" && ".join(
                f"temporal operator search-attribute create --namespace {ns} --address {settings.temporal_address} "
                f"--name {n} --type {k}" for n, k, _ in wrong
            ),
        ))  # fmt: skip
    else:
        found.append(Finding(check="search attributes", status=OK, detail=", ".join(CLI_TYPES) + " registered"))
    return found + pollers


async def _pollers(client: Client, settings: Settings, queues: list[str]) -> list[Finding]:
    from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from schemas import queues as queue_names

    found = []
    now = datetime.now(UTC)
    for name in queues:
        full = queue_names.queue(name, settings.task_queue_prefix)
        kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if name == queue_names.WORKFLOWS else (
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)  # fmt: skip
        request = DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=full, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
        )
        response = await client.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=TIMEOUT_S))
        live = [p for p in response.pollers if now - p.last_access_time.ToDatetime(UTC) < POLLER_FRESH]
        if live:
            who = ", ".join(sorted({p.identity for p in live}))
            found.append(Finding(check=f"worker {full}", status=OK, detail=f"polled by {who}"))
            continue
        prefix = settings.task_queue_prefix
        found.append(Finding(
            check=f"worker {full}",
            status=BAD,
            detail=f"no worker polls task queue {full!r}: jobs that need it wait until one does",
            fix="start one with `genai-flow worker` (or `genai-flow up`)"
                + (f" with GENAI_FLOW_TASK_QUEUE_PREFIX={prefix}" if prefix else ""),
        ))  # fmt: skip
    return found


# -- Redis, Chroma ---------------------------------------------------------------------------------------------------


async def redis_check(settings: Settings) -> list[Finding]:
    """Redis answers PING at REDIS_URL."""
    import redis.asyncio
    import redis.exceptions

    client = redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S
    )
    try:
        await client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as err:
        status, detail = DOWN, f"cannot reach Redis at {settings.redis_url}: {reason(err)}"
        fix = "start the stack with `genai-flow up` (it starts redis-server when none answers), or set REDIS_URL"
    except redis.exceptions.RedisError as err:
        status, detail = BAD, f"Redis at {settings.redis_url} refused PING: {reason(err)}"
        fix = "put the password or database in REDIS_URL (redis://:PASSWORD@HOST:PORT/DB)"
    else:
        return [Finding(check="redis", status=OK, detail=f"answers at {settings.redis_url}")]
    finally:
        await client.aclose()
    return [Finding(check="redis", status=status, detail=detail, fix=fix)]


async def chroma_check(settings: Settings) -> list[Finding]:
    """Chroma's heartbeat answers at GENAI_FLOW_CHROMA_URL."""
    url = f"{settings.chroma_url.rstrip('/')}/api/v2/heartbeat"
    code = await http_status(url)
    if code == 200:
        return [Finding(check="chroma", status=OK, detail=f"answers at {settings.chroma_url}")]
    if code is None:
        return [Finding(check="chroma", status=DOWN, detail=f"cannot reach Chroma at {settings.chroma_url}",
                        fix="start the stack with `genai-flow up`, or set GENAI_FLOW_CHROMA_URL")]  # fmt: skip
    return [Finding(check="chroma", status=BAD, detail=f"{url} answered HTTP {code}: not a Chroma 1.x server?",
                    fix="set GENAI_FLOW_CHROMA_URL to the Chroma server's base URL")]  # fmt: skip


def encryption_keys_check() -> list[Finding]:
    """When GENAI_FLOW_ENCRYPTION_KEYS is set: every entry is `id:<base64 of 32 bytes>`, ids unique."""
    from runtime.keyring import ENV, GENERATE_HINT, KeyringError, keys_from_env

    try:
        keys = keys_from_env()
    except KeyringError as err:
        return [Finding(check="encryption keys", status=INVALID, detail=str(err), fix=f"fix {ENV}; {GENERATE_HINT}")]
    if not keys:
        return [Finding(check="encryption keys", status=SKIP, detail=f"{ENV} unset: payloads are not encrypted")]
    ids = ", ".join(k.key_id for k in keys)
    return [Finding(check="encryption keys", status=OK, detail=f"{len(keys)} key(s) ({ids}); {keys[0].key_id} "
                    "encrypts")]  # fmt: skip
