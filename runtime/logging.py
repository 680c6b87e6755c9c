"""structlog set-up: a console renderer in a terminal, JSON lines otherwise; ids bound through contextvars.

Every line written inside a Temporal activity or workflow carries `job_id` (the workflow id), `workflow_id`,
`run_id`, `activity` and `attempt`, whether it came from our structlog loggers or from temporalio's own stdlib
loggers. Prompt and answer text and secrets are redacted (runtime/redact.py); GENAI_FLOW_LOG_TEXT=true keeps text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from temporalio import activity, workflow

from runtime.redact import Redactor
from runtime.settings import Settings, get_settings

# Third-party loggers that are chatty at INFO; they still report warnings and errors.
_QUIET = ("httpx", "httpx2", "httpcore", "openai", "urllib3", "chromadb", "botocore", "aiobotocore", "uvicorn.access")


def _use_console(settings: Settings, stream: TextIO) -> bool:
    if settings.log_format == "console":
        return True
    if settings.log_format == "json":
        return False
    return stream.isatty()


def _temporal_fields(details: Any) -> dict[str, Any]:
    """Our field names for temporalio's `temporal_activity` / `temporal_workflow` logger details."""
    if not isinstance(details, dict):
        return {}
    fields = {
        "job_id": details.get("workflow_id"),
        "workflow_id": details.get("workflow_id"),
        "run_id": details.get("workflow_run_id") or details.get("run_id"),
        "activity": details.get("activity_type"),
        "attempt": details.get("attempt"),
        "workflow_type": details.get("workflow_type"),
    }
    return {key: value for key, value in fields.items() if value is not None}


def add_temporal_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Add the ids of the running activity or workflow (or those temporalio put on a stdlib record)."""
    for extra in ("temporal_activity", "temporal_workflow"):
        if extra in event:
            for key, value in _temporal_fields(event.pop(extra)).items():
                event.setdefault(key, value)
    if activity.in_activity():
        info = activity.info()
        details = {
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
        }
    elif workflow.in_workflow():
        info_w = workflow.info()
        details = {"workflow_id": info_w.workflow_id, "workflow_run_id": info_w.run_id, "attempt": info_w.attempt}
    else:
        return event
    for key, value in _temporal_fields(details).items():
        event.setdefault(key, value)
    return event


def configure_logging(settings: Settings | None = None, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one renderer chosen by GENAI_FLOW_LOG_FORMAT (auto = by TTY)."""
    settings = settings or get_settings()
    stream = stream or sys.stderr  # stdout is for command output (`--json`), logs go to stderr
    level = logging.getLevelName(settings.log_level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        add_temporal_ids,
    ]
    renderer: structlog.types.Processor
    if _use_console(settings, stream):
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    # Last, so exception text is scrubbed of credentials too.
    shared.append(Redactor(keep_text=settings.log_text))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # No caching: loggers made at import time must follow a later configure_logging() (CLI, tests).
        cache_logger_on_first_use=False,
    )
    # Records from the stdlib (temporalio, uvicorn, ...) get the same processors and renderer.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # temporalio's loggers put the activity/workflow ids on the record's `extra`; lift them into the line.
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(("temporal_activity", "temporal_workflow")), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    # The ids travel as fields, not appended to the message text.
    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def get_logger(name: str | None = None, **ids: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger, optionally with ids bound (job_id=..., step=...)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**ids) if ids else logger


@contextmanager
def bound_ids(**ids: Any) -> Iterator[None]:
    """Bind ids (job_id, workflow_id, step, ...) to every log line emitted inside the block, then unbind them."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield
