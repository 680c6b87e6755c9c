"""Which objects an HTTP caller may name: `s3://` only in GENAI_FLOW_ALLOWED_BUCKETS, `file://` only under
GENAI_FLOW_ALLOWED_ROOTS (symlinks resolved first, so a link cannot lead outside). The CLI is trusted and skips this."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.problems import ProblemError
from runtime.objectstore import file_uri, is_s3, local_path, split_s3
from runtime.settings import Settings


def bucket_allowed(settings: Settings, bucket: str) -> bool:
    """True when GENAI_FLOW_ALLOWED_BUCKETS lists the bucket (or `*`)."""
    return "*" in settings.allowed_buckets or bucket in settings.allowed_buckets


def checked_uri(settings: Settings, uri: str) -> str:
    """The URI to ingest, normalised; 422 for a malformed one, 403 for one outside the allow-lists."""
    if is_s3(uri):
        try:
            bucket, key = split_s3(uri)
        except ValueError as err:
            raise ProblemError(422, str(err)) from None
        if not key or key.endswith("/"):
            raise ProblemError(422, "an s3:// URI must name one object (bucket and key)")
        if not bucket_allowed(settings, bucket):
            raise ProblemError(403, f"bucket {bucket!r} is not in GENAI_FLOW_ALLOWED_BUCKETS")
        return uri
    if not uri.startswith("file://"):
        raise ProblemError(422, "uri must be s3://bucket/key or file:///absolute/path")
    try:
        path = local_path(uri)
    except ValueError as err:
        raise ProblemError(422, str(err)) from None
    if not path.is_absolute() or "\0" in str(path):
        raise ProblemError(422, "a file:// URI must name an absolute path")
    real = Path(os.path.realpath(path))
    roots = [Path(os.path.realpath(root)) for root in settings.allowed_roots]
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise ProblemError(403, f"{path} is not under GENAI_FLOW_ALLOWED_ROOTS")
    if not real.is_file():
        raise ProblemError(422, f"no such file: {path}")
    return file_uri(real)
