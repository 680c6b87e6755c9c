"""structlog set-up: JSON lines off a terminal, console on one, bound ids on every line, stdlib records included."""

from __future__ import annotations

import io
import json
import logging

import pytest

from runtime.logging import bound_ids, configure_logging, get_logger
from runtime.settings import Settings


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_when_not_a_terminal_with_bound_ids() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="auto", log_level="INFO"), stream=stream)
    with bound_ids(job_id="answer-1", step="retrieve"):
        get_logger("t").info("step started", attempt=2)
    get_logger("t").info("outside")
    logging.getLogger("stdlib.module").warning("from the stdlib")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "step started"
    assert lines[0]["job_id"] == "answer-1" and lines[0]["step"] == "retrieve" and lines[0]["attempt"] == 2
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert "job_id" not in lines[1]
    assert lines[2]["event"] == "from the stdlib" and lines[2]["logger"] == "stdlib.module"


def test_console_on_a_terminal_and_level_filter() -> None:
    stream = _Tty()
    configure_logging(Settings(log_format="auto", log_level="WARNING"), stream=stream)
    get_logger("t").info("hidden")
    get_logger("t").warning("shown", job_id="answer-2")
    text = stream.getvalue()
    assert "hidden" not in text
    assert "shown" in text and "answer-2" in text
    assert not text.lstrip().startswith("{")


def test_forced_json_on_a_terminal() -> None:
    stream = _Tty()
    configure_logging(Settings(log_format="json"), stream=stream)
    get_logger("t").info("x")
    assert json.loads(stream.getvalue().splitlines()[0])["event"] == "x"
