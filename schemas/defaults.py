"""Defaults of request fields and settings, free of pydantic: `genai-flow --help` shows them without loading it.

Each default is defined here once; `schemas/fields.py` holds the annotated types (bounds, patterns) they belong to.
"""

from __future__ import annotations

DEFAULT_COLLECTION = "docs"  # where `ask`, agents and ingestion without a collection read and write
DEFAULT_TOP_K = 4  # chunks retrieved per question
DEFAULT_MAX_DEPTH = 10  # an agent's model calls before it is held for approval
DEFAULT_APPROVAL_TIMEOUT_S = 24 * 3600.0  # how long a pause waits for a decision
