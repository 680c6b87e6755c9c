"""CLI exit codes (CONTRACTS.md)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of `genai-flow`."""

    OK = 0
    FAILED = 1
    USAGE = 2
    DEAD_LETTERED = 3
    REJECTED = 4
    UNREACHABLE = 5
