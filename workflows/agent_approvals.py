"""The approval half of AgentRun: the pause's state, the `approve`/`reject` updates and signals, the `state` query.

Updates are validated (a run that is not waiting, or a budget pause without `extend_tokens`, is refused with the
reason) and answer with the new state; signals of the same shape serve the Temporal CLI and Web UI: one that cannot
apply is ignored and kept in the audit list, never held as a pre-approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.agent import (
        MAX_IGNORED_RECORDS,
        AgentCarry,
        AgentState,
        ApprovalRecord,
        ApproveRequest,
        PauseReason,
        RejectRequest,
    )

DEFAULT_APPROVER = "temporal-cli"  # a signal (Temporal CLI, Web UI) carries no identity


class ApprovalGate:
    """Where a paused AgentRun waits: `decision` is set by an update or signal and wakes the run."""

    def __init__(self, carry: AgentCarry) -> None:
        # The run's real state from the start: handlers run before `run()` on the first activation.
        self.carry = carry
        self.pause: PauseReason | None = None
        self.deadline: datetime | None = None
        self.question: str | None = None
        self.decision: ApprovalRecord | None = None

    @workflow.update(name="approve")
    def approve_update(self, req: ApproveRequest) -> AgentState:
        """Approve the pause: extend depth (default 1 at a depth pause) and/or tokens."""
        self.apply_approve(req, "update")
        return self.state()

    @approve_update.validator
    def validate_approve(self, req: ApproveRequest) -> None:
        """Refuse an approval the run cannot take, with the reason (the client maps it to exit 4 / HTTP 409)."""
        if refusal := self.approve_refusal(req):
            raise ApplicationError(refusal, type="NotAwaitingApproval")

    @workflow.update(name="reject")
    def reject_update(self, req: RejectRequest) -> AgentState:
        """Reject the pause: the run completes with outcome `rejected` and the reason."""
        self.apply_reject(req, "update")
        return self.state()

    @reject_update.validator
    def validate_reject(self, req: RejectRequest) -> None:
        """Refuse a rejection when the run is not waiting."""
        if refusal := self.waiting_refusal():
            raise ApplicationError(refusal, type="NotAwaitingApproval")

    @workflow.signal(name="approve")
    def approve_signal(self, req: ApproveRequest) -> None:
        """`temporal workflow signal --name approve`: applied when due, else ignored and kept in the audit list."""
        if refusal := self.approve_refusal(req):
            self.ignored("approve", req.approver, refusal, req.note)
            return
        self.apply_approve(req, "signal")

    @workflow.signal(name="reject")
    def reject_signal(self, req: RejectRequest) -> None:
        """`temporal workflow signal --name reject`: as the update, ignored (and audited) when not waiting."""
        if refusal := self.waiting_refusal():
            self.ignored("reject", req.approver, refusal, req.reason)
            return
        self.apply_reject(req, "signal")

    @workflow.query(name="state")
    def state(self) -> AgentState:
        """Depth, budget and the pending question, from workflow state."""
        budget = self.carry.token_budget
        used = self.carry.usage.billed_tokens
        return AgentState(
            depth=self.carry.depth,
            max_depth=self.carry.max_depth,
            tokens_used=used,
            tokens_left=None if budget is None else max(0, budget - used),
            awaiting_approval=self.pause is not None and self.decision is None,
            pending_question=self.question,
            transcript_summary=self.carry.last_summary,
            reason=self.pause,
            deadline=self.deadline,
            steps=self.carry.steps,
        )

    def waiting_refusal(self) -> str | None:
        """Why a decision cannot be taken now (None when the run is waiting for one)."""
        if self.pause is None or self.decision is not None:
            return "the run is not awaiting approval (it is running)"
        return None

    def approve_refusal(self, req: ApproveRequest) -> str | None:
        """Why this approval cannot be taken now: not waiting, or a budget pause without extend_tokens."""
        if refusal := self.waiting_refusal():
            return refusal
        if self.pause is PauseReason.BUDGET and not req.extend_tokens:
            return "the run is paused at its token budget: approve with extend_tokens"
        return None

    def apply_approve(self, req: ApproveRequest, via: Literal["update", "signal"]) -> None:
        """Extend the limits and record the decision (the waiting run resumes)."""
        extend_depth = req.extend_depth
        if extend_depth is None and self.pause is PauseReason.DEPTH:
            extend_depth = 1
        if extend_depth:
            self.carry.max_depth += extend_depth
        if req.extend_tokens and self.carry.token_budget is not None:
            self.carry.token_budget += req.extend_tokens
        self.record(
            ApprovalRecord(
                decision="approve",
                approver=req.approver or DEFAULT_APPROVER,
                via=via,
                note=req.note,
                extend_depth=extend_depth,
                extend_tokens=req.extend_tokens,
                at=workflow.now(),
            )
        )

    def apply_reject(self, req: RejectRequest, via: Literal["update", "signal"]) -> None:
        """Record a rejection (the waiting run completes as rejected)."""
        reason = req.reason or "rejected"
        self.record(
            ApprovalRecord(
                decision="reject", approver=req.approver or DEFAULT_APPROVER, via=via, reason=reason, at=workflow.now()
            )
        )

    def record(self, decision: ApprovalRecord) -> None:
        """Keep a decision in the audit list and wake the waiting run."""
        self.carry.approvals.append(decision)
        self.decision = decision

    def ignored(self, decision: Literal["approve", "reject"], approver: str | None, why: str, note: str | None) -> None:
        """A signal that arrived when the run was not waiting: audited (the latest few), never a pre-approval."""
        record = ApprovalRecord(
            decision=decision,
            approver=approver or DEFAULT_APPROVER,
            via="signal",
            note=note,
            reason=f"ignored: {why}",
            ignored=True,
            at=workflow.now(),
        )
        # Only workflow state changes here (no command reads the audit list), so replay needs no patch.
        approvals = self.carry.approvals
        ignored = [i for i, a in enumerate(approvals) if a.ignored]
        if len(ignored) >= MAX_IGNORED_RECORDS:  # the oldest ignored one goes; real decisions always stay
            del approvals[ignored[0]]
            self.carry.ignored_signals_dropped += 1
        approvals.append(record)
