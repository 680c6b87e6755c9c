"""The object store: one interface over S3 (moto on loopback, standard AWS variables) and local files."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.objectstore import ObjectNotFoundError, ObjectStore, VersionChangedError, file_uri, sha256_hex


async def make_bucket(store: ObjectStore, name: str, versioned: bool = False) -> None:
    """Create a bucket (optionally versioned) through the store's own client."""
    s3 = await store.s3()
    await s3.create_bucket(Bucket=name)
    if versioned:
        await s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


async def test_s3_round_trip_with_awkward_keys(aws: str, unique: str) -> None:
    async with ObjectStore() as store:
        await make_bucket(store, f"b-{unique}")
        keys = ["plain.md", "with space.md", "plus+sign.txt", "ünïcødé/日本.md"]
        for key in keys:
            await store.put(f"s3://b-{unique}/docs/{key}", key.encode())
        listed = [info.uri async for info in store.list(f"s3://b-{unique}/docs/")]
        assert sorted(listed) == sorted(f"s3://b-{unique}/docs/{k}" for k in keys)
        for key in keys:
            info = await store.head(f"s3://b-{unique}/docs/{key}")
            assert info.etag and info.version == info.etag and info.size == len(key.encode())
            assert await store.get(info.uri, etag=info.etag) == key.encode()
        with pytest.raises(ObjectNotFoundError):
            await store.get(f"s3://b-{unique}/docs/missing.md")


async def test_s3_reads_exactly_the_announced_version(aws: str, unique: str) -> None:
    async with ObjectStore() as store:
        await make_bucket(store, f"v-{unique}", versioned=True)
        first = await store.put(f"s3://v-{unique}/a.md", b"first")
        second = await store.put(f"s3://v-{unique}/a.md", b"second")
        assert first.version_id and first.version_id != second.version_id
        assert await store.get(first.uri, version_id=first.version_id) == b"first"
        with pytest.raises(VersionChangedError):  # unversioned read of a replaced object: If-Match fails
            await store.get(first.uri, etag=first.etag)
        assert await store.delete_prefix(f"s3://v-{unique}/") >= 1


async def test_local_files_are_versioned_by_content(tmp_path: Path) -> None:
    async with ObjectStore() as store:
        target = tmp_path / "sub dir" / "nötes.md"
        info = await store.put(file_uri(target), b"hello")
        assert info.version == sha256_hex(b"hello") and target.read_bytes() == b"hello"
        assert (await store.head(str(target))).version == info.version  # a plain path works too
        assert await store.get(info.uri, sha256=info.version) == b"hello"
        target.write_bytes(b"changed")
        with pytest.raises(VersionChangedError):
            await store.get(info.uri, sha256=info.version)
        assert [i.uri async for i in store.list(str(tmp_path))] == [file_uri(target)]
        assert await store.delete_prefix(file_uri(tmp_path / "sub dir")) == 1
        with pytest.raises(ObjectNotFoundError):
            await store.get(info.uri)
