"""`genai-flow doctor`: run every check (launcher/checks.py) at once and add up the exit code; `up` reuses it.

Exit code (CONTRACTS.md): 0 all good; 2 a setting is invalid; 5 something cannot be reached; 1 reachable but
misconfigured. With several failures the most severe wins in that order (an invalid setting explains the rest).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from launcher import checks, checks_external
from runtime.settings import Settings, SettingsError, load_settings
from schemas.doctor import CheckStatus, DoctorReport, Finding

if TYPE_CHECKING:
    from launcher.plan import PortClaim

# Names of check groups, so `up` can leave out what it has not started yet.
TEMPORAL, WORKERS, REDIS, CHROMA, MODEL, S3, PORTS = "temporal", "workers", "redis", "chroma", "model", "s3", "ports"
# The check group of each component of the stack plan (launcher/plan.py names).
CHECKED_COMPONENTS = {
    "temporal": TEMPORAL,
    "redis": REDIS,
    "chroma": CHROMA,
    "model (simulator)": MODEL,
    "model (llama.cpp chat)": MODEL,
    "model (llama.cpp embeddings)": MODEL,
    "worker": WORKERS,
}

# How to tell that a taken port is held by the component `up` would start there (e.g. by a running `up`).
IDENTITY_PATHS = {
    "GENAI_FLOW_TEMPORAL_UI_PORT": "/api/v1/settings",
    "GENAI_FLOW_SIM_PORT": "/sim/ledger",
    "GENAI_FLOW_METRICS_PORT": "/metrics",
    "GENAI_FLOW_GATEWAY_PORT": "/healthz",
}


async def _serves_model(host: str, port: int, model: str) -> bool:
    """Whether an OpenAI-compatible server on host:port lists `model` (llama-server lists its --alias there)."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=checks.TIMEOUT_S) as http:
            response = await http.get(f"http://{host}:{port}/v1/models")
            ids = [entry.get("id") for entry in response.json().get("data", [])] if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return model in ids


async def _held_by_our_stack(claim: PortClaim, settings: Settings) -> bool:
    if claim.setting == "TEMPORAL_ADDRESS":
        return not isinstance(await checks.temporal_client(settings), Finding)
    if claim.setting == "REDIS_URL":
        return (await checks.redis_check(settings))[0].status is CheckStatus.OK
    if claim.setting == "GENAI_FLOW_CHROMA_URL":
        return (await checks.chroma_check(settings))[0].status is CheckStatus.OK
    path = IDENTITY_PATHS.get(claim.setting)
    host = "127.0.0.1" if claim.host in ("", "0.0.0.0", "::") else claim.host
    host = f"[{host}]" if ":" in host else host
    # The local backend's llama-servers: ours when they serve the very model `up` would start there.
    served = {"GENAI_FLOW_LOCAL_LLM_PORT": settings.chat_model, "GENAI_FLOW_LOCAL_EMBED_PORT": settings.embed_model}
    if claim.setting in served:
        return await _serves_model(host, claim.port, served[claim.setting])
    return path is not None and await checks.http_status(f"http://{host}:{claim.port}{path}") == 200


async def ports_check(settings: Settings) -> list[Finding]:
    """Every port `up` would listen on is free, or held by the very component `up` would start there."""
    from launcher.plan import plan, port_problems
    from runtime.processes import ServiceError

    try:
        components = await asyncio.to_thread(plan, settings)
    except ServiceError as err:  # a missing binary or an external service `up` needs: the message holds the fix
        return [Finding(check="stack plan", status=CheckStatus.MISCONFIGURED, detail=str(err), fix=_fix_of(str(err)))]
    claims = [claim for component in components for claim in component.ports]
    held = await asyncio.gather(*(_held_by_our_stack(claim, settings) for claim in claims))
    ours = {claim for claim, mine in zip(claims, held, strict=True) if mine}
    problems = port_problems(components, ours=ours)
    if not problems:
        ports = ", ".join(
            f"{c.port} ({c.setting}{', held by that genai-flow service' if c in ours else ''})" for c in claims
        )
        return [Finding(check="ports", status=CheckStatus.OK, detail=f"usable by `up`: {ports}" if ports else
                        "`up` needs no local port")]  # fmt: skip
    return [
        Finding(check="ports", status=CheckStatus.MISCONFIGURED, detail=what, fix=fix)
        for what, _, fix in (problem.partition(": ") for problem in problems)
    ]


def _fix_of(message: str) -> str:
    # ServiceError messages say "<what>. Install it with: <fix>" or "<what>; <fix>"; else the whole message.
    if "Install it with:" in message:
        return message.split("Install it with:", 1)[1].strip()
    return message.rsplit(";", 1)[-1].strip() if ";" in message else message


# What the probes import, imported before any of them starts: on a loaded machine an import takes seconds (openai
# took 7 s on two busy cores), and one made inside a probe holds the event loop while the other probes' timeouts run,
# so a healthy Redis or Temporal was reported unreachable.
PROBE_MODULES = (
    "temporalio.client",
    "runtime.temporal",
    "redis.asyncio",
    "httpx",
    "openai",
    "activities.llm",
    "launcher.plan",
)


async def diagnose(settings: Settings, skip: Collection[str] = ()) -> list[Finding]:
    """Run the checks not in skip concurrently; findings in a stable order (Temporal, workers, Redis, ...)."""
    for name in (*PROBE_MODULES, *(["aioboto3"] if S3 not in skip and checks_external.s3_configured(settings) else [])):
        importlib.import_module(name)
    queues: list[str] | None = None
    if WORKERS not in skip:
        from workers.registry import declared_queues  # imports the workflows and activities it lists

        queues = declared_queues()
    groups: dict[str, Callable[[], Awaitable[list[Finding]]]] = {
        TEMPORAL: lambda: checks.temporal_checks(settings, queues),
        REDIS: lambda: checks.redis_check(settings),
        CHROMA: lambda: checks.chroma_check(settings),
        MODEL: lambda: checks_external.model_checks(settings),
        S3: lambda: checks_external.s3_checks(settings),
        PORTS: lambda: ports_check(settings),
    }
    chosen = [name for name in groups if name not in skip]
    results = await asyncio.gather(*(groups[name]() for name in chosen), return_exceptions=True)
    findings: list[Finding] = []
    for name, result in zip(chosen, results, strict=True):
        if isinstance(result, BaseException):  # a probe we did not foresee failing: report it, never a traceback
            findings.append(Finding(check=name, status=CheckStatus.UNREACHABLE, detail=f"check failed: {result!r}",
                                    fix="see the detail; run `genai-flow doctor` again once it is fixed"))  # fmt: skip
        else:
            findings += result
    return findings


def run_doctor(skip: Collection[str] = ()) -> DoctorReport:
    """Validate settings and encryption keys, then probe every configured component; the report has the exit code."""
    keys = checks.encryption_keys_check()
    try:
        settings = load_settings()
    except SettingsError as err:
        finding = Finding(check="settings", status=CheckStatus.INVALID, detail=str(err),
                          fix="set each named variable to a valid value (docs/operations.md lists them)")  # fmt: skip
        # A malformed key also fails the settings; the key check's own finding says how to make a good one.
        return DoctorReport.of([finding, *(k for k in keys if k.status is CheckStatus.INVALID)])
    findings = [Finding(check="settings", status=CheckStatus.OK, detail=f"valid (GENAI_FLOW_LLM={settings.llm.value})")]
    return DoctorReport.of(findings + keys + asyncio.run(diagnose(settings, skip)))


def check_all(settings: Settings, skip: Collection[str] = ()) -> list[Finding]:
    """The encryption keys and every component check not in skip, for settings already loaded (as `up` has)."""
    return checks.encryption_keys_check() + asyncio.run(diagnose(settings, skip))


SYMBOLS = {CheckStatus.OK: "ok  ", CheckStatus.SKIPPED: "skip"}


def report_lines(report: DoctorReport, failures_only: bool = False) -> list[str]:
    """The report for people: one line per finding, and under each failure the fix."""
    lines = []
    for f in report.failures if failures_only else report.findings:
        lines.append(f"{SYMBOLS.get(f.status, 'FAIL')}  {f.check}: {f.detail}" + ("" if not f.status.failed else
                     f"  [{f.status.value}]"))  # fmt: skip
        if f.fix:
            lines.append(f"      fix: {f.fix}")
    return lines
