"""Field rules shared by settings and request models: each type's bounds and pattern are defined here once.

A rule used in more than one model lives here as an annotated type (`collection: CollectionName = DEFAULT_COLLECTION`),
so a request body, an environment variable and a CLI option accept exactly the same values. The defaults live in
`schemas/defaults.py`, which the CLI's help text reads without importing pydantic.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Vector collections: Chroma's naming rule (3-63 characters, alphanumeric at both ends; `.`, `_`, `-` inside).
CollectionName = Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")]
# Retrieval: how many chunks to fetch, and how far below the best one a kept chunk may score (cosine similarity).
TopK = Annotated[int, Field(ge=1, le=50)]
ScoreGap = Annotated[float, Field(ge=0, le=2)]
# Agents: model calls before a pause, and how long a pause may wait for a decision (a year at most).
MaxDepth = Annotated[int, Field(ge=1, le=10_000)]
ApprovalTimeoutS = Annotated[float, Field(gt=0, le=365 * 24 * 3600)]
# Token limits, budgets and extensions a caller sends: a billion tokens is thousands of dollars on any model; larger
# numbers are typos or probes (and overflow the 64-bit integers Temporal's search attributes hold).
MAX_TOKENS = 1_000_000_000
TokenCount = Annotated[int, Field(ge=1, le=MAX_TOKENS)]
