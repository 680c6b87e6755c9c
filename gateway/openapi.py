"""The OpenAPI document as the gateway answers: every error is `application/problem+json`, and every status a
route can return (auth, limits, validation, Temporal away) is listed, with the bearer scheme declared.

FastAPI describes errors as `application/json` and validation errors in its own shape; the handlers in
`gateway/problems.py` answer RFC 9457 problems instead. This rewrites the generated document once, so clients
and schema-driven tools (schemathesis in the tests) see what the gateway really sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from schemas.gateway import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Operations reachable without an API key (everything else answers 401 without one).
OPEN = {("/healthz", "get"), ("/readyz", "get"), ("/ui/login", "get"), ("/ui/login", "post")}
# What any keyed route can answer besides its own statuses: the key, its rate limit, input, and the backends.
COMMON = {
    "401": "missing or unknown API key",
    "422": "invalid request (the problem's `errors` list says where)",
    "429": "rate limit exceeded (see Retry-After)",
    "500": "internal error (the gateway log has it)",
    "503": "Temporal or Redis unreachable (see Retry-After)",
}
WITH_BODY = {"413": "body too large"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


# The approval body as the route checks it: an approval takes extensions and a note, a rejection a reason.
APPROVAL_BODY = {
    "oneOf": [
        {
            "type": "object",
            "title": "Approve",
            "required": ["decision"],
            "additionalProperties": False,
            "properties": {
                "decision": {"const": "approve"},
                "extend_depth": {"type": "integer", "minimum": 1, "maximum": 10_000},
                "extend_tokens": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
                "note": {"type": "string", "maxLength": 2000},
            },
        },
        {
            "type": "object",
            "title": "Reject",
            "required": ["decision"],
            "additionalProperties": False,
            "properties": {"decision": {"const": "reject"}, "reason": {"type": "string", "maxLength": 2000}},
        },
    ]
}
# The events token's shape (gateway/auth.py); JSON Schema's `\d` is ASCII digits only, as the gateway reads them.
EVENTS_TOKEN_PATTERN = r"^([0-9a-f]{12}|local)\.\d{1,12}\.[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern, not a secret
# Where a started job leads (OpenAPI links: clients and stateful tests follow them).
JOB_LINKS = {
    "GetJob": {"operationId": "get_job_v1_jobs__job_id__get", "parameters": {"job_id": "$response.body#/job_id"}},
    "JobEvents": {
        "operationId": "job_event_stream_v1_jobs__job_id__events_get",
        "parameters": {"job_id": "$response.body#/job_id"},
    },
    "CancelJob": {
        "operationId": "cancel_job_v1_jobs__job_id__delete",
        "parameters": {"job_id": "$response.body#/job_id"},
    },
}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    # An optional parameter is sent or left out; `null` is not a value a query string or header can carry.
    variants = schema.get("anyOf")
    if isinstance(variants, list):
        kept = [v for v in variants if v.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _s3_event_body(schemas: dict[str, Any]) -> dict[str, Any]:
    from schemas.s3events import S3EventNotification

    model = S3EventNotification.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(model.pop("$defs", {}))
    schemas["S3EventNotification"] = model
    return {
        "required": True,
        "description": "An S3 event notification (AWS, MinIO); an SNS envelope carrying one is accepted too.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S3EventNotification"}}},
    }


def _rewrite(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if "Problem" not in schemas:
        from schemas.gateway import Problem

        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status, response in list(responses.items()):
                if status[0] in "45":
                    # Keep any non-JSON content (the login form answers HTML), describe JSON errors as problems.
                    content = response.get("content") or {}
                    if not content or "application/json" in content:
                        responses[status] = _problem(response.get("description", ""))
            keyed = (path, method) not in OPEN and not path.startswith("/ui/")
            extra = dict(COMMON) if keyed else {"422": COMMON["422"], "429": COMMON["429"], "500": COMMON["500"]}
            if "requestBody" in operation:
                extra |= WITH_BODY
            for status, description in extra.items():
                responses.setdefault(status, _problem(description))
            if keyed:
                operation["security"] = [{"bearer": []}]
            for parameter in operation.get("parameters", []):
                if not parameter.get("required"):
                    parameter["schema"] = _not_null(parameter.get("schema", {}))
                if parameter["name"] == "token" and path.endswith("/events"):
                    parameter["schema"]["pattern"] = EVENTS_TOKEN_PATTERN
            if (path, method) == ("/v1/jobs/{job_id}/approval", "post"):
                operation["requestBody"]["content"]["application/json"]["schema"] = APPROVAL_BODY
            if (path, method) == ("/v1/events/s3", "post"):
                operation["requestBody"] = _s3_event_body(schemas)
                operation["responses"].setdefault("413", _problem(WITH_BODY["413"]))
            if method == "post" and path in ("/v1/answers", "/v1/agents", "/v1/ingestions"):
                # A repeated Idempotency-Key with the same body answers 200 with the job it started.
                started = responses["202"]
                responses.setdefault("200", {**started, "description": "the job this Idempotency-Key started"})
                for status in ("200", "202"):
                    responses[status]["links"] = JOB_LINKS
    return document


def install(app: FastAPI) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first use)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _rewrite(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
