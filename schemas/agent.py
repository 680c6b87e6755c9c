"""AgentRun payloads (CONTRACTS.md, "Agent depth and budget"): request, approvals, the `state` query, the result."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from schemas.answer import StepUsage
from schemas.defaults import DEFAULT_APPROVAL_TIMEOUT_S, DEFAULT_COLLECTION, DEFAULT_MAX_DEPTH
from schemas.fields import ApprovalTimeoutS, CollectionName, MaxDepth, TokenCount
from schemas.inference import ChatMessage, ToolCall, ToolSpec
from schemas.request import RequestModel
from schemas.text import Task
from schemas.usage import Usage

DEFAULT_CONTINUE_EVERY = 50  # agent steps per run before continue-as-new (bounded history)
DEFAULT_CHILD_BUDGET_SHARE = 0.5  # a spawned sub-agent reserves this share of the remaining token budget
# Ignored signals the audit list keeps (the latest): a noisy sender must not grow the carried state without bound.
MAX_IGNORED_RECORDS = 20

# Built-in tools, offered in this order before any user tool (CONTRACTS.md).
SEARCH_DOCUMENTS = "search_documents"
ANSWER_QUESTION = "answer_question"
SPAWN_SUBAGENT = "spawn_subagent"
BUILTIN_TOOLS = (SEARCH_DOCUMENTS, ANSWER_QUESTION, SPAWN_SUBAGENT)


class PauseReason(StrEnum):
    """Why a run stopped before its next model call."""

    DEPTH = "depth"
    BUDGET = "budget"


class Outcome(StrEnum):
    """How an agent ended: the model answered, or a person (or the approval timeout) said no."""

    ANSWERED = "answered"
    REJECTED = "rejected"
    STOPPED = "stopped"  # a sub-agent that hit the global depth or its budget slice (never a root job)


class AgentRequest(RequestModel):
    """Start an agent: `POST /v1/agents`, `genai-flow agent TASK`."""

    task: Task
    max_depth: MaxDepth = DEFAULT_MAX_DEPTH
    token_budget: TokenCount | None = None
    approval_timeout_s: ApprovalTimeoutS = DEFAULT_APPROVAL_TIMEOUT_S
    collection: CollectionName = DEFAULT_COLLECTION
    tools: list[str] | None = Field(None, description="User tools to offer (default: every registered one).")
    continue_every: int = Field(DEFAULT_CONTINUE_EVERY, ge=1, le=1000)
    step_deadline_s: float | None = None  # filled from settings by the client (workflows cannot read settings)


class ChildScope(BaseModel):
    """What a sub-agent inherits from its parent: the chain's depth so far, the global limit, its budget slice."""

    root_job_id: str
    depth: int = Field(ge=0)
    max_depth: int = Field(ge=1)
    token_budget: int | None = None
    label: str = ""  # prefix of the sub-agent's step names in the root's events (`sub3.chat#5`)


class ToolBinding(BaseModel):
    """A tool offered to the model and where it runs: built-in, or a user activity on a task queue."""

    spec: ToolSpec
    queue: str | None = None  # a user tool's task queue (contract name; the run's prefix is added); None = built-in
    start_to_close_s: float = 60.0


class ApprovalRecord(BaseModel):
    """One decision (or ignored signal) in the audit list of the result."""

    decision: Literal["approve", "reject"]
    approver: str
    via: Literal["update", "signal", "timeout"] = "update"
    note: str | None = None
    reason: str | None = None
    extend_depth: int | None = None
    extend_tokens: int | None = None
    ignored: bool = False  # a signal that arrived while the run was not waiting
    at: datetime


class AgentCarry(BaseModel):
    """Compact state carried across continue-as-new (the transcript itself lives in Redis)."""

    depth: int = 0
    max_depth: int
    token_budget: int | None = None
    usage: Usage = Field(default_factory=Usage)
    steps: int = 0  # agent steps (model calls) of the whole job so far
    tool_calls: int = 0
    transcript_len: int = 0
    pending_messages: list[ChatMessage] = Field(default_factory=list)  # tool results not yet sent to the model
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    ignored_signals_dropped: int = 0  # ignored signals beyond MAX_IGNORED_RECORDS: counted, no longer listed
    tools: list[ToolBinding] = Field(default_factory=list)
    last_summary: str = ""
    # What the job pays for itself, one usage per model (priced when the root closes), and the cost of children
    # that priced their own ledger (answer_question jobs), so the spend is complete and never counted twice.
    ledger: list[Usage] = Field(default_factory=list)
    priced_usd: float = Field(0.0, ge=0)


class AgentRunInput(AgentRequest):
    """The AgentRun workflow's one argument: a request (as clients send it), plus scope and carry internally.

    Clients and `dlq replay` start it with a plain AgentRequest; sub-agents add `scope`, continued runs `carry`.
    """

    scope: ChildScope | None = None
    carry: AgentCarry | None = None

    def request(self) -> AgentRequest:
        """The user's request alone (what a dead letter keeps for replay)."""
        return AgentRequest.model_validate(self.model_dump(exclude={"scope", "carry"}))


class ApproveRequest(BaseModel):
    """Update/signal `approve`: every field optional (a depth pause extends by 1; a budget pause needs tokens)."""

    extend_depth: int | None = Field(None, ge=1, le=10_000)
    extend_tokens: TokenCount | None = None
    note: str | None = Field(None, max_length=2000)
    approver: str | None = Field(None, max_length=200)  # set by the client; `temporal-cli` when a signal has none


class RejectRequest(BaseModel):
    """Update/signal `reject`."""

    reason: str | None = Field(None, max_length=2000)
    approver: str | None = Field(None, max_length=200)


class AgentState(BaseModel):
    """The `state` query (and the body of `awaiting_approval` events, with `reason`)."""

    depth: int
    max_depth: int
    tokens_used: int
    tokens_left: int | None
    awaiting_approval: bool
    pending_question: str | None = None
    transcript_summary: str = ""
    reason: PauseReason | None = None
    deadline: datetime | None = None
    steps: int = 0


class AgentResult(BaseModel):
    """The result of an AgentRun (`GET /v1/jobs/{id}` `result`)."""

    outcome: Outcome
    answer: str = ""
    reason: str | None = None
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    ignored_signals_dropped: int = 0  # older ignored signals the audit list no longer shows (every decision stays)
    usage: Usage = Field(default_factory=Usage)
    depth: int = 0
    stopped: PauseReason | None = None  # set on a sub-agent that stopped at the global depth or its slice
    steps: int = 0
    tool_calls: int = 0
    cost_usd: float = Field(0.0, ge=0, description="USD of the whole run; a sub-agent's counts only priced children.")
    ledger: list[StepUsage] = Field(
        default_factory=list, description="Usage per model (priced on a root job; a sub-agent's is priced by its root)."
    )


class PendingApproval(BaseModel):
    """One row of `genai-flow pending` / `GET /v1/approvals`, read from visibility + memo (no worker needed)."""

    job_id: str
    task: str = ""
    reason: PauseReason | None = None
    pending_question: str | None = None
    depth: int | None = None
    max_depth: int | None = None
    tokens_used: int | None = None
    token_budget: int | None = None
    paused_at: datetime | None = None
    deadline: datetime | None = None
    owner: str | None = None


class ApprovalBody(RequestModel):
    """`POST /v1/jobs/{id}/approval`: one body for both decisions."""

    decision: Literal["approve", "reject"]
    extend_depth: int | None = Field(None, ge=1, le=10_000)
    extend_tokens: TokenCount | None = None
    note: str | None = Field(None, max_length=2000)
    reason: str | None = Field(None, max_length=2000)


class ToolResult(BaseModel):
    """What a tool returns to the model (as the tool message's JSON content) and what it cost."""

    content: str
    usage: Usage = Field(default_factory=Usage)
    depth: int | None = None  # a sub-agent's chain depth when it returned
    ledger: list[Usage] | None = None  # what the agent must price, per model (None: `usage` itself)
    priced_usd: float = Field(0.0, ge=0)  # the cost of calls a child job already priced in its own ledger


class UserToolCall(BaseModel):
    """Input of a user tool's activity: the model's JSON arguments and where it was called from."""

    arguments: str
    job_id: str  # whose event stream gets the step events (the root job)
    call_id: str
    step: str  # `tool.<name>#<n>`


class AgentChatRequest(BaseModel):
    """Input of the `agent_chat` activity: the transcript lives in Redis, only its length travels in history."""

    job_id: str  # the Redis transcript's owner (the run's workflow id; a sub-agent has its own)
    events_job_id: str  # whose event stream gets step events (the root job)
    step: str
    index: int | None = None
    transcript_len: int = Field(ge=0)  # messages already committed; anything after is a failed attempt's leftover
    append: list[ChatMessage] = Field(default_factory=list)  # messages to add before the call
    tools: list[ToolSpec] = Field(default_factory=list)
    ttl_s: int = Field(ge=60)
    model: str | None = None


class AgentChatResult(BaseModel):
    """The model's reply (text or tool calls), its usage and the transcript's new length."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage
    transcript_len: int


class AgentMemo(BaseModel):
    """The memo a paused run upserts so `pending` works with no worker running."""

    task: str = ""
    pause_reason: str = ""
    pending_question: str = ""
    paused_at: str = ""
    deadline: str = ""
    depth: int = 0
    max_depth: int = 0
    tokens_used: int = 0
    token_budget: int = 0
    outcome: str = ""
