"""Shared field rules: a request body, an environment variable and a CLI option accept the same values and defaults."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from runtime.settings import SettingsError, load_settings
from schemas.agent import AgentRequest
from schemas.answer import AnswerRequest
from schemas.defaults import DEFAULT_APPROVAL_TIMEOUT_S, DEFAULT_COLLECTION, DEFAULT_MAX_DEPTH, DEFAULT_TOP_K
from schemas.gateway import IngestionBody
from schemas.ingest import IngestRequest
from schemas.retrieval import RetrieveRequest
from starter.cli import cmd_agent, cmd_answer
from starter.cli.durations import parse_duration

GOOD_COLLECTIONS = ["docs", "a.b", "Team_1-notes", "x" * 63]
BAD_COLLECTIONS = ["ab", "x" * 64, "-docs", "docs.", "has space", "dücs"]


def _request(model: type[BaseModel], **fields: Any) -> Callable[[], BaseModel]:
    required: dict[str, Any] = {
        AnswerRequest: {"question": "q"},
        AgentRequest: {"task": "t"},
        IngestRequest: {"uri": "file:///a.md", "version": "v1"},
        IngestionBody: {"uri": "file:///a.md"},
        RetrieveRequest: {"question": "q", "collection": "docs", "step": "retrieve", "model": "m"},
    }[model]
    return lambda: model(**required, **fields)


def _setting(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:
    def load() -> object:
        monkeypatch.setenv(name, value)
        return load_settings()

    return load


COLLECTION_MODELS = [AnswerRequest, AgentRequest, IngestRequest, IngestionBody]


@pytest.mark.parametrize("value", GOOD_COLLECTIONS + BAD_COLLECTIONS)
def test_every_collection_field_applies_the_one_rule(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    makers = [_request(model, collection=value) for model in COLLECTION_MODELS]
    makers.append(_setting("GENAI_FLOW_INGEST_COLLECTION", value, monkeypatch))
    for make in makers:
        if value in GOOD_COLLECTIONS:
            make()
        else:
            with pytest.raises((ValidationError, SettingsError)):
                make()


@pytest.mark.parametrize(("value", "ok"), [(0, True), (0.25, True), (2, True), (-0.1, False), (2.01, False)])
def test_every_score_gap_applies_the_one_rule(value: float, ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    makers = [_request(AnswerRequest, score_gap=value), _request(RetrieveRequest, score_gap=value)]
    makers.append(_setting("GENAI_FLOW_SCORE_GAP", str(value), monkeypatch))
    for make in makers:
        if ok:
            make()
        else:
            with pytest.raises((ValidationError, SettingsError)):
                make()


def test_requests_settings_and_cli_share_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENAI_FLOW_INGEST_COLLECTION", raising=False)
    ask = inspect.signature(cmd_answer.ask).parameters
    agent = inspect.signature(cmd_agent.agent).parameters
    assert load_settings().ingest_collection == DEFAULT_COLLECTION
    assert AnswerRequest(question="q").collection == ask["collection"].default == DEFAULT_COLLECTION
    assert AgentRequest(task="t").collection == agent["collection"].default == DEFAULT_COLLECTION
    assert IngestRequest(uri="file:///a.md", version="v").collection == DEFAULT_COLLECTION
    assert AnswerRequest(question="q").top_k == ask["top_k"].default == DEFAULT_TOP_K
    assert AgentRequest(task="t").max_depth == agent["max_depth"].default == DEFAULT_MAX_DEPTH
    assert AgentRequest(task="t").approval_timeout_s == DEFAULT_APPROVAL_TIMEOUT_S
    assert parse_duration(agent["approval_timeout"].default) == DEFAULT_APPROVAL_TIMEOUT_S
