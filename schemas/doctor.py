"""What `genai-flow doctor --json` prints: one finding per check, and the exit code they add up to."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class CheckStatus(StrEnum):
    """The outcome of one check; each failing status maps to an exit code (CONTRACTS.md, "CLI")."""

    OK = "ok"
    MISCONFIGURED = "misconfigured"  # reachable, but set up wrong (exit 1)
    INVALID = "invalid"  # a setting's value cannot be used (exit 2)
    UNREACHABLE = "unreachable"  # cannot connect (exit 5)
    SKIPPED = "skipped"  # not configured, or not checkable because an earlier check failed

    @property
    def exit_code(self) -> int:
        """The exit code this status asks for (0 for ok and skipped)."""
        return {CheckStatus.MISCONFIGURED: 1, CheckStatus.INVALID: 2, CheckStatus.UNREACHABLE: 5}.get(self, 0)

    @property
    def failed(self) -> bool:
        """True for the statuses that need fixing."""
        return self.exit_code != 0


class Finding(BaseModel):
    """One check's result: what was checked, what is wrong, and the command or setting that fixes it."""

    check: str = Field(description="e.g. temporal, search attributes, redis, model, ports")
    status: CheckStatus
    detail: str = Field(description="what was found (for a failure: what is wrong)")
    fix: str | None = Field(None, description="the command to run or the setting to change; set on failures")


# Invalid settings first (nothing else can be trusted), then unreachable services, then misconfiguration.
SEVERITY = (CheckStatus.INVALID, CheckStatus.UNREACHABLE, CheckStatus.MISCONFIGURED)


class DoctorReport(BaseModel):
    """Every finding of one `doctor` run and the resulting exit code (0 all good, 1, 2 or 5)."""

    exit_code: int
    findings: list[Finding]

    @classmethod
    def of(cls, findings: list[Finding]) -> DoctorReport:
        """The report for findings: the exit code of the most severe failure."""
        statuses = {f.status for f in findings}
        code = next((s.exit_code for s in SEVERITY if s in statuses), 0)
        return cls(exit_code=code, findings=findings)

    @property
    def failures(self) -> list[Finding]:
        """The findings that need fixing."""
        return [f for f in self.findings if f.status.failed]
