"""Length limits as real servers enforce them: a prompt longer than the context window, an embedding input too long.

Found by comparing the simulator with llama.cpp's llama-server (`make test-real`): a real server refuses both,
where the simulator used to answer anything. We answer as OpenAI does (400, `invalid_request_error`,
`context_length_exceeded`, "maximum context length" in the message), which the failure classifier maps to a
Permanent "context length exceeded", as it maps llama-server's own wording (400 `exceed_context_size_error`, or a
500 "input (N tokens) is too large to process" for embeddings).
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from sim.faults import error_body

CONTEXT_LENGTH_CODE = "context_length_exceeded"


def _refuse(message: str, param: str) -> JSONResponse:
    body = error_body(400, message, "invalid_request_error")
    body["error"].update(param=param, code=CONTEXT_LENGTH_CODE)
    return JSONResponse(body, status_code=400)


def chat_over_context(prompt_tokens: int, window: int) -> JSONResponse | None:
    """A 400 when the prompt alone exceeds the context window (checked before any token is generated)."""
    if prompt_tokens <= window:
        return None
    return _refuse(
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages.",
        "messages",
    )


def embedding_over_limit(input_tokens: list[int], limit: int) -> JSONResponse | None:
    """A 400 when any one input is longer than the embedding model takes."""
    longest = max(input_tokens, default=0)
    if longest <= limit:
        return None
    index = input_tokens.index(longest)
    return _refuse(
        f"This model's maximum context length is {limit} tokens, however you requested {longest} tokens "
        f"in input[{index}]. Please reduce your input.",
        "input",
    )
