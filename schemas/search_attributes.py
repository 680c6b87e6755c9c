"""The search attributes genai-flow registers and sets (CONTRACTS.md, "Temporal")."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PIPELINE = SearchAttributeKey.for_keyword("GenAIPipeline")
AWAITING_APPROVAL = SearchAttributeKey.for_bool("AwaitingApproval")
AGENT_DEPTH = SearchAttributeKey.for_int("AgentDepth")
TOKENS_USED = SearchAttributeKey.for_int("TokensUsed")
DEAD_LETTERED = SearchAttributeKey.for_bool("DeadLettered")
# The caller's key id (first 12 hex of sha256 of the API key, never the key), or `cli:<user>`.
OWNER = SearchAttributeKey.for_keyword("GenAIOwner")

ALL_KEYS = (PIPELINE, AWAITING_APPROVAL, AGENT_DEPTH, TOKENS_USED, DEAD_LETTERED, OWNER)

# Names as the Temporal CLI spells the types (`--search-attribute Name=Type`).
CLI_TYPES: dict[str, str] = {
    "GenAIPipeline": "Keyword",
    "AwaitingApproval": "Bool",
    "AgentDepth": "Int",
    "TokensUsed": "Int",
    "DeadLettered": "Bool",
    "GenAIOwner": "Keyword",
}
