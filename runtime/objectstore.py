"""One object store interface over S3 (aioboto3) and local files, addressed by URI.

- `s3://bucket/key`: aioboto3 with the standard AWS configuration (credentials, `AWS_REGION`/`AWS_DEFAULT_REGION`,
  `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for MinIO and moto): botocore reads them itself, so AWS, MinIO and moto
  work unchanged. An object's version is its `VersionId` when the bucket is versioned, else its ETag; reads of one
  version use `VersionId` or `If-Match`, so a replaced object is noticed instead of silently read.
- `file:///abs/path` and plain paths: the embedded default; a file's version is the sha256 of its content.

Ingestion reads documents through it, and the claim check (`runtime/claims.py`) keeps intermediate text and vectors
in it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel

from schemas.ingest import ObjectVersion

READ_CHUNK = 1 << 20


class ObjectInfo(BaseModel):
    """What a listing or a HEAD tells about one object."""

    uri: str
    size: int
    version: str
    version_id: str | None = None
    etag: str | None = None
    modified: datetime | None = None

    def as_version(self) -> ObjectVersion:
        """This object as an ObjectVersion to ingest (no event sequencer: a listing has no order)."""
        return ObjectVersion(
            uri=self.uri, version=self.version, version_id=self.version_id, etag=self.etag, size=self.size
        )


class ObjectStoreError(RuntimeError):
    """The store refused or failed an operation (message says which object and why)."""


class ObjectNotFoundError(ObjectStoreError, LookupError):
    """No such object (or bucket)."""


class VersionChangedError(ObjectStoreError):
    """The object exists but no longer has the version asked for (it was replaced meanwhile)."""


class ObjectAccessError(ObjectStoreError):
    """No credentials, or the store refused them: retrying cannot help until an operator fixes the access."""


_ACCESS_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "403"}


def sha256_hex(data: bytes) -> str:
    """Content hash: a local file's version and a claim's checksum."""
    return hashlib.sha256(data).hexdigest()


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URI; the key may be empty (a whole bucket)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, uri[len(f"s3://{parsed.netloc}/") :] if uri.startswith(f"s3://{parsed.netloc}/") else ""


def local_path(uri: str) -> Path:
    """The path of a `file://` URI or a plain path."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URIs must name a local path (got host {parsed.netloc!r})")
        return Path(unquote(parsed.path))
    return Path(uri)


def file_uri(path: Path) -> str:
    """The `file://` URI of a path (absolute, characters kept as they are: URIs here are identities, not URLs)."""
    return f"file://{path.resolve()}"


def is_s3(uri: str) -> bool:
    """True for `s3://` URIs."""
    return uri.startswith("s3://")


class ObjectStore:
    """Read, write, list and delete objects by URI; one instance per process (it keeps one S3 client open)."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self._s3: Any = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the S3 client, if one was opened."""
        await self._stack.aclose()
        self._s3 = None

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def s3(self) -> Any:
        """The aioboto3 S3 client, created on first use from the standard AWS configuration."""
        async with self._lock:
            if self._s3 is None:
                import aioboto3  # heavy: only processes that touch S3 pay for it

                self._s3 = await self._stack.enter_async_context(aioboto3.Session().client("s3"))
            return self._s3

    async def get(
        self, uri: str, *, version_id: str | None = None, etag: str | None = None, sha256: str | None = None
    ) -> bytes:
        """An object's bytes: exactly version_id, or only while its ETag is etag, or (files) only if sha256 matches."""
        if is_s3(uri):
            return await self._s3_get(uri, version_id, etag)
        path = local_path(uri)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise ObjectStoreError(f"{path} is a directory, not a document") from None
        except OSError as err:
            raise ObjectStoreError(f"cannot read {path}: {err.strerror or err}") from None
        if sha256 is not None and sha256_hex(data) != sha256:
            raise VersionChangedError(f"{path} changed since its version {sha256[:12]} was recorded")
        return data

    async def put(self, uri: str, data: bytes) -> ObjectInfo:
        """Write an object (files: atomically, through a temporary file and a rename)."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            resp = await self._s3_call("put", uri, (await self.s3()).put_object, Bucket=bucket, Key=key, Body=data)
            etag = str(resp.get("ETag", "")).strip('"') or None
            vid = resp.get("VersionId")
            return ObjectInfo(uri=uri, size=len(data), version=vid or etag or "", version_id=vid, etag=etag)
        path = local_path(uri)
        await asyncio.to_thread(_write_atomically, path, data)
        return ObjectInfo(uri=uri, size=len(data), version=sha256_hex(data))

    async def head(self, uri: str) -> ObjectInfo:
        """Size and version of one object (files are hashed: their version is their content)."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            resp = await self._s3_call("head", uri, (await self.s3()).head_object, Bucket=bucket, Key=key)
            return _s3_info(
                uri, resp.get("ContentLength", 0), resp.get("ETag"), resp.get("VersionId"), resp.get("LastModified")
            )
        path = local_path(uri)
        if not path.is_file():
            raise ObjectNotFoundError(f"no such file: {path}")
        return await asyncio.to_thread(_file_info, path)

    async def list(self, prefix_uri: str) -> AsyncIterator[ObjectInfo]:
        """Every object under an `s3://bucket/prefix` or below a directory (recursively), in key/path order."""
        if is_s3(prefix_uri):
            bucket, prefix = split_s3(prefix_uri)
            paginator = (await self.s3()).get_paginator("list_objects_v2")
            try:
                async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                    for item in page.get("Contents", []):
                        yield _s3_info(
                            f"s3://{bucket}/{item['Key']}",
                            item.get("Size", 0),
                            item.get("ETag"),
                            None,
                            item.get("LastModified"),
                        )
            except Exception as err:
                raise _s3_error("list", prefix_uri, err) from None
            return
        root = local_path(prefix_uri)
        if root.is_file():
            yield await asyncio.to_thread(_file_info, root)
            return
        if not root.is_dir():
            raise ObjectNotFoundError(f"no such file or directory: {root}")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            yield await asyncio.to_thread(_file_info, path)

    async def delete(self, uri: str) -> None:
        """Delete one object (a missing one is fine)."""
        if is_s3(uri):
            bucket, key = split_s3(uri)
            await self._s3_call("delete", uri, (await self.s3()).delete_object, Bucket=bucket, Key=key)
            return
        await asyncio.to_thread(local_path(uri).unlink, missing_ok=True)

    async def delete_prefix(self, prefix_uri: str) -> int:
        """Delete every object under a prefix (files: the directory tree); returns how many went."""
        if is_s3(prefix_uri):
            keys = [info.uri async for info in self.list(prefix_uri)]
            bucket, _ = split_s3(prefix_uri)
            s3 = await self.s3()
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
                batch = [{"Key": split_s3(u)[1]} for u in keys[start : start + 1000]]
                await self._s3_call(
                    "delete", prefix_uri, s3.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
                )
            return len(keys)
        return await asyncio.to_thread(_remove_tree, local_path(prefix_uri))

    async def _s3_get(self, uri: str, version_id: str | None, etag: str | None) -> bytes:
        bucket, key = split_s3(uri)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        elif etag:
            params["IfMatch"] = f'"{etag}"'
        resp = await self._s3_call("get", uri, (await self.s3()).get_object, **params)
        async with resp["Body"] as body:
            return bytes(await body.read())

    async def _s3_call(self, op: str, uri: str, fn: Any, **params: Any) -> Any:
        try:
            return await fn(**params)
        except Exception as err:
            raise _s3_error(op, uri, err) from None


def _s3_error(op: str, uri: str, err: Exception) -> ObjectStoreError:
    """Our error for a botocore one: missing objects and replaced versions are told apart from the rest."""
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "NotFound"} or status == 404:
        return ObjectNotFoundError(f"{op} {uri}: not found ({code or status})")
    if code in {"PreconditionFailed", "412"} or status == 412:
        return VersionChangedError(f"{op} {uri}: the object was replaced since this version was announced")
    if code == "InvalidArgument" and "version" in str(err).lower():
        return ObjectNotFoundError(f"{op} {uri}: no such version ({err})")
    # botocore's NoCredentialsError / PartialCredentialsError carry no response; refused keys answer 403.
    if type(err).__name__ in {"NoCredentialsError", "PartialCredentialsError"} or code in _ACCESS_CODES:
        return ObjectAccessError(
            f"{op} {uri}: access refused ({code or type(err).__name__}: {err}); set the AWS_* "
            "credentials, then replay the dead letter"
        )
    return ObjectStoreError(f"{op} {uri}: {code or type(err).__name__}: {err}")


def _s3_info(uri: str, size: int, etag: str | None, version_id: str | None, modified: datetime | None) -> ObjectInfo:
    tag = (etag or "").strip('"') or None
    return ObjectInfo(
        uri=uri, size=int(size), version=version_id or tag or "", version_id=version_id, etag=tag, modified=modified
    )


def _file_info(path: Path) -> ObjectInfo:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(READ_CHUNK):
            digest.update(block)
    stat = path.stat()
    return ObjectInfo(
        uri=file_uri(path),
        size=stat.st_size,
        version=digest.hexdigest(),
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _remove_tree(root: Path) -> int:
    if not root.exists():
        return 0
    if root.is_file():
        root.unlink()
        return 1
    count = 0
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
            count += 1
    root.rmdir()
    return count
