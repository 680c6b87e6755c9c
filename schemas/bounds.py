"""Field rules for numbers a caller sends that must stay within what the system can hold."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# A billion tokens is thousands of dollars on any model; larger numbers are typos or probes (and overflow the
# 64-bit integers Temporal's search attributes hold).
MAX_TOKENS = 1_000_000_000

TokenCount = Annotated[int, Field(ge=1, le=MAX_TOKENS)]
"""A token limit, budget or extension: 1 to 10^9."""
