"""The S3 file store's own behaviour, on moto's S3 server over HTTP: multipart uploads that
never outlive their writer, aborts by id, presigned GETs, addressing, flat memory.

The contract every file store passes is in test_file_stores.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiobotocore.config import AioConfig
from aiohttp.abc import AbstractResolver, ResolveResult
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from export_resend.adapters.s3 import S3FileStore, S3FileWriter
from export_resend.domain.ports import FileMissing
from tests.s3 import SECRET_ACCESS_KEY, SESSION_TOKEN, MotoServer, S3Bucket

_MIB = 1024 * 1024
_PART = 5 * _MIB


@pytest.fixture
async def store(s3_bucket: S3Bucket) -> AsyncIterator[S3FileStore]:
    async with s3_bucket.store(prefix="exports", part_size=_PART) as opened:
        yield opened


async def _write(store: S3FileStore, key: str, data: bytes) -> None:
    async with store.writer(key) as writer:
        await writer.write(data)
        await writer.commit()


async def _read(store: S3FileStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open(key)])


class _Failure(Exception):
    pass


async def test_files_are_objects_under_the_prefix(s3_bucket: S3Bucket) -> None:
    async with (
        s3_bucket.store(prefix="/tenants/exports/") as prefixed,
        s3_bucket.store() as bare,
    ):
        await _write(prefixed, "a.csv", b"1")
        await _write(bare, "a.csv", b"2")
        assert await s3_bucket.keys() == ["a.csv", "tenants/exports/a.csv"]
        assert (await _read(prefixed, "a.csv"), await _read(bare, "a.csv")) == (b"1", b"2")


@pytest.mark.parametrize("prefix", ["a//b", "a/../b", "./a", "a/\n"])
def test_a_prefix_with_empty_dot_or_control_segments_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        S3FileStore("exports", prefix=prefix)


@pytest.mark.parametrize("part_size", [5 * _MIB - 1, 5 * 1024 * _MIB + 1])
def test_a_part_size_s3_would_refuse_is_refused(part_size: int) -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3FileStore("exports", part_size=part_size)


async def test_a_writer_is_a_multipart_upload_whose_parts_go_up_as_its_buffer_fills(
    store: S3FileStore, s3_bucket: S3Bucket
) -> None:
    async with store.writer("a.csv") as writer:
        [(key, upload_id)] = await s3_bucket.uploads()
        assert (key, upload_id) == ("exports/a.csv", writer.upload_id)
        await writer.write(os.urandom(2 * _PART + 10))
        parts = await s3_bucket.client.list_parts(
            Bucket=s3_bucket.name, Key=key, UploadId=upload_id
        )
        assert [p["Size"] for p in parts["Parts"]] == [_PART, _PART]
        assert await s3_bucket.keys() == []
        await writer.commit()
    assert await s3_bucket.uploads() == []
    assert await s3_bucket.keys() == ["exports/a.csv"]
    head = await s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="exports/a.csv")
    assert head["ContentLength"] == 2 * _PART + 10
    assert head["ETag"].endswith('-3"')  # three parts: the last one of 10 bytes


async def test_the_upload_id_is_known_only_inside_the_block(store: S3FileStore) -> None:
    writer = store.writer("a.csv")
    with pytest.raises(RuntimeError, match="async with"):
        assert writer.upload_id
    async with writer:
        assert writer.upload_id


async def _left_without_commit(writer: S3FileWriter) -> None:
    await writer.write(os.urandom(_PART + 1))


async def _left_by_an_exception(writer: S3FileWriter) -> None:
    await writer.write(os.urandom(_PART + 1))
    raise _Failure


@pytest.mark.parametrize("leave", [_left_without_commit, _left_by_an_exception])
async def test_a_writer_left_without_commit_aborts_its_upload(
    store: S3FileStore, s3_bucket: S3Bucket, leave: Callable[[S3FileWriter], Awaitable[None]]
) -> None:
    with contextlib.suppress(_Failure):
        async with store.writer("a.csv") as writer:
            await leave(writer)
    assert await s3_bucket.uploads() == []
    assert await s3_bucket.keys() == []


async def test_a_writer_cancelled_while_writing_aborts_its_upload(
    store: S3FileStore, s3_bucket: S3Bucket
) -> None:
    parts_sent = asyncio.Event()

    async def write_forever() -> None:
        async with store.writer("a.csv") as writer:
            while True:
                await writer.write(os.urandom(_MIB))
                if writer._parts:
                    parts_sent.set()

    task = asyncio.create_task(write_forever())
    await parts_sent.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await s3_bucket.uploads() == []
    assert await s3_bucket.keys() == []


@pytest.mark.parametrize("turns", [0, 1, 3, 8])
async def test_a_writer_cancelled_while_its_upload_is_made_leaves_no_upload(
    store: S3FileStore, s3_bucket: S3Bucket, turns: int
) -> None:
    async def write() -> None:
        async with store.writer("a.csv") as writer:
            await writer.commit()

    task = asyncio.create_task(write())
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.aclose()  # waits for the aborts that run on after a cancel
    assert await s3_bucket.uploads() == []


@pytest.mark.parametrize("turns", [0, 2, 8, 32])
async def test_a_commit_cancelled_at_any_point_leaves_the_whole_file_or_nothing(
    store: S3FileStore, s3_bucket: S3Bucket, turns: int
) -> None:
    data = os.urandom(_PART + 100)
    writer = store.writer("a.csv")
    async with writer:
        await writer.write(data)
        commit = asyncio.create_task(writer.commit())
        for _ in range(turns):
            await asyncio.sleep(0)
        commit.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await commit
    await store.aclose()
    assert await s3_bucket.uploads() == []
    try:
        assert await _read(store, "a.csv") == data
    except FileMissing:
        assert commit.cancelled()


async def test_a_writer_whose_write_was_cancelled_cannot_commit(
    store: S3FileStore, s3_bucket: S3Bucket
) -> None:
    async with store.writer("a.csv") as writer:
        write = asyncio.create_task(writer.write(os.urandom(2 * _PART)))
        await asyncio.sleep(0.01)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        with pytest.raises(RuntimeError, match="failed"):
            await writer.commit()
    assert await s3_bucket.uploads() == []
    assert await s3_bucket.keys() == []


async def test_a_writer_is_refused_after_commit_and_outside_its_block(
    store: S3FileStore,
) -> None:
    async with store.writer("a.csv") as writer:
        await writer.write(b"x")
        await writer.commit()
        with pytest.raises(RuntimeError, match="committed"):
            await writer.write(b"y")
    with pytest.raises(RuntimeError, match="async with"):
        await store.writer("b.csv").write(b"y")
    async with store.writer("b.csv") as left:
        pass
    with pytest.raises(RuntimeError, match="async with"):
        await left.commit()
    with pytest.raises(RuntimeError, match="one file only"):
        async with left:
            pass


async def test_an_upload_is_aborted_by_its_id_once_and_for_all(
    store: S3FileStore, s3_bucket: S3Bucket
) -> None:
    # what a process that died mid-write leaves behind: an upload with a part
    crashed = await s3_bucket.client.create_multipart_upload(
        Bucket=s3_bucket.name, Key="exports/a.csv"
    )
    await s3_bucket.client.upload_part(
        Bucket=s3_bucket.name,
        Key="exports/a.csv",
        UploadId=crashed["UploadId"],
        PartNumber=1,
        Body=os.urandom(_PART),
    )
    await store.abort_upload("a.csv", crashed["UploadId"])
    assert await s3_bucket.uploads() == []
    await store.abort_upload("a.csv", crashed["UploadId"])
    await store.abort_upload("a.csv", "no-such-upload")
    with pytest.raises(ValueError, match="upload id"):
        await store.abort_upload("a.csv", "")
    with pytest.raises(ValueError, match="file key"):
        await store.abort_upload("../a.csv", crashed["UploadId"])


async def test_aborting_a_committed_upload_keeps_its_file(store: S3FileStore) -> None:
    async with store.writer("a.csv") as writer:
        await writer.write(b"kept")
        await writer.commit()
    await store.abort_upload("a.csv", writer.upload_id)
    assert await _read(store, "a.csv") == b"kept"


async def test_a_live_writer_whose_upload_is_aborted_cannot_commit(
    s3_bucket: S3Bucket,
) -> None:
    # S3 answers NoSuchUpload; moto, an internal error (so, no retries here)
    no_retries = AioConfig(retries={"max_attempts": 1})
    async with s3_bucket.store(config=no_retries) as store, store.writer("a.csv") as writer:
        await writer.write(b"lost")
        await store.abort_upload("a.csv", writer.upload_id)
        with pytest.raises(ClientError):
            await writer.commit()
    assert await s3_bucket.keys() == []


async def test_an_empty_file_is_one_empty_part(store: S3FileStore, s3_bucket: S3Bucket) -> None:
    async with store.writer("a.csv") as writer:
        await writer.commit()
    assert await s3_bucket.keys() == ["exports/a.csv"]
    assert await _read(store, "a.csv") == b""


async def test_a_missing_bucket_is_an_error_not_a_missing_file(
    moto_server: MotoServer, aws_credentials: None
) -> None:
    async with S3FileStore("no-such-bucket", endpoint_url=moto_server.endpoint_url) as store:
        with pytest.raises(ClientError, match="NoSuchBucket"):
            await store.open("a.csv")
        with pytest.raises(ClientError, match="NoSuchBucket"):
            await store.delete("a.csv")
        with pytest.raises(ClientError, match="NoSuchBucket"):
            async with store.writer("a.csv"):
                pass


def _messages(exc: BaseException) -> str:
    """Everything an exception and its causes would print."""
    seen: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        seen += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(seen)


async def test_errors_never_carry_the_credentials(
    moto_server: MotoServer, aws_credentials: None
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{unused.getsockname()[1]}"
    no_retries = AioConfig(retries={"max_attempts": 1}, connect_timeout=2)
    failures: list[BaseException] = []
    async with (
        S3FileStore("no-such-bucket", endpoint_url=moto_server.endpoint_url) as missing,
        S3FileStore("exports", endpoint_url=nowhere, config=no_retries) as unreachable,
    ):
        for store in (missing, unreachable):
            with pytest.raises((ClientError, EndpointConnectionError)) as opened:
                await store.open("a.csv")
            with pytest.raises((ClientError, EndpointConnectionError)) as written:
                async with store.writer("a.csv"):
                    pass
            failures += [opened.value, written.value]
    for failure in failures:
        assert SECRET_ACCESS_KEY not in _messages(failure)
        assert SESSION_TOKEN not in _messages(failure)


async def test_credentials_come_from_the_standard_chain(
    moto_server: MotoServer, aws_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    async with S3FileStore("exports", endpoint_url=moto_server.endpoint_url) as store:
        with pytest.raises(NoCredentialsError):
            await store.open("a.csv")


async def test_a_presigned_get_answers_the_file_as_an_attachment_not_to_be_cached(
    store: S3FileStore,
) -> None:
    data = os.urandom(300_000)
    await _write(store, "a.csv", data)
    url = await store.presigned_get(
        "a.csv", expires_in=timedelta(minutes=5), filename="funding-transfers_2026-11-25.csv"
    )
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert SECRET_ACCESS_KEY not in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-disposition"] == (
        'attachment; filename="funding-transfers_2026-11-25.csv"'
    )
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("expires_in", "filename", "message"),
    [
        (timedelta(0), "a.csv", "expires_in"),
        (timedelta(days=7, seconds=1), "a.csv", "expires_in"),
        (timedelta(minutes=5), 'a".csv', "file name"),
        (timedelta(minutes=5), "a\r\nSet-Cookie: x.csv", "file name"),
        (timedelta(minutes=5), "", "file name"),
        (timedelta(minutes=5), "façade.csv", "file name"),
    ],
)
async def test_a_presigned_get_is_refused_for_an_unusable_time_or_file_name(
    store: S3FileStore, expires_in: timedelta, filename: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.presigned_get("a.csv", expires_in=expires_in, filename=filename)


class _LoopbackResolver(AbstractResolver):
    """Every ``*.localhost`` name is 127.0.0.1, and each name asked for is remembered."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        assert host == "localhost" or host.endswith(".localhost"), host
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("force_path_style", "host", "path"),
    [(True, "localhost", "/{bucket}/a.csv"), (False, "{bucket}.localhost", "/a.csv")],
)
async def test_the_bucket_is_in_the_path_or_in_the_host_name_as_the_setting_says(
    s3_bucket: S3Bucket, force_path_style: bool, host: str, path: str
) -> None:
    resolver = _LoopbackResolver()
    port = s3_bucket.server.port
    options: dict[str, Any] = {
        "endpoint_url": f"http://localhost:{port}",
        "force_path_style": force_path_style,
        "config": AioConfig(connector_args={"resolver": resolver}),
    }
    host, path = host.format(bucket=s3_bucket.name), path.format(bucket=s3_bucket.name)
    async with s3_bucket.store(**options) as store:
        await _write(store, "a.csv", b"addressed")
        assert await _read(store, "a.csv") == b"addressed"
        url = urlsplit(
            await store.presigned_get("a.csv", expires_in=timedelta(minutes=1), filename="a.csv")
        )
    assert set(resolver.asked) == {host}
    assert (url.netloc, url.path) == (f"{host}:{port}", path)
    async with httpx.AsyncClient() as client:
        # to 127.0.0.1, with the Host header the URL names (its name resolves nowhere else)
        response = await client.get(
            f"http://127.0.0.1:{port}{url.path}?{url.query}", headers={"Host": url.netloc}
        )
    assert response.content == b"addressed"


async def test_memory_stays_within_a_few_parts_whatever_the_file_size(
    store: S3FileStore, s3_bucket: S3Bucket
) -> None:
    block = os.urandom(64 * 1024)
    size = 200 * _MIB
    await store.delete("big.csv")  # the client is made, its service model loaded, before
    tracemalloc.start()
    try:
        async with store.writer("big.csv") as writer:
            for _ in range(size // len(block)):
                await writer.write(block)
            await writer.commit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * _PART, f"peak {peak / _MIB:.1f} MiB writing {size // _MIB} MiB"
    head = await s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="exports/big.csv")
    assert head["ContentLength"] == size


async def test_a_reader_holds_a_few_chunks_whatever_the_file_size(store: S3FileStore) -> None:
    size = 30 * _MIB
    async with store.writer("big.csv") as writer:
        for _ in range(size // _MIB):
            await writer.write(os.urandom(_MIB))
        await writer.commit()
    read = 0
    await store.delete("other.csv")
    tracemalloc.start()
    try:
        async for chunk in await store.open("big.csv"):
            read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read == size
    assert peak < _MIB, f"peak {peak / _MIB:.1f} MiB reading {size // _MIB} MiB"


async def test_a_store_used_in_another_event_loop_must_be_closed_first(
    store: S3FileStore,
) -> None:
    await store.delete("a.csv")

    async def delete_and_close() -> None:
        await store.delete("a.csv")
        await store.aclose()

    with pytest.raises(RuntimeError, match="one event loop"):
        await asyncio.to_thread(asyncio.run, store.delete("a.csv"))
    await store.aclose()
    await asyncio.to_thread(asyncio.run, delete_and_close())
    await store.delete("a.csv")
