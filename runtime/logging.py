"""structlog set-up: a console renderer in a terminal, JSON lines otherwise; ids bound through contextvars."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from runtime.settings import Settings, get_settings

# Third-party loggers that are chatty at INFO; they still report warnings and errors.
_QUIET = ("httpx", "httpx2", "httpcore", "openai", "urllib3", "chromadb", "botocore", "aiobotocore", "uvicorn.access")


def _use_console(settings: Settings, stream: TextIO) -> bool:
    if settings.log_format == "console":
        return True
    if settings.log_format == "json":
        return False
    return stream.isatty()


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
    ]
    renderer: structlog.types.Processor
    if _use_console(settings, stream):
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
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
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
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
