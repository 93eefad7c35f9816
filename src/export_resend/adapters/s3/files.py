"""Export files as objects in an S3-compatible bucket, each uploaded whole or not at all."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from export_resend.domain.ports import FileMissing, FileStore, FileWriter, checked_file_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, GetObjectOutputTypeDef

log = logging.getLogger(__name__)

_MIB = 1024 * 1024
_CHUNK = 64 * 1024
MIN_PART_SIZE = 5 * _MIB
"""S3's least part size (every part but the last)."""
MAX_PART_SIZE = 5 * 1024 * _MIB
MAX_PARTS = 10_000
MAX_PRESIGNED = timedelta(days=7)
"""The longest a SigV4 presigned URL may be valid."""
_SEGMENT = re.compile(r"[^\x00-\x1f\x7f/]+")
_FILENAME = re.compile(r"[\x20-\x7e]{1,255}")


class S3FileStore(FileStore):
    """Files as objects named ``{prefix}/{key}`` in ``bucket`` of S3 or a service that speaks
    its API (MinIO, Cloudflare R2, Ceph RGW, Google Cloud Storage's XML API).

    A writer is a multipart upload: parts of ``part_size`` bytes go up as its buffer fills
    (so memory stays near one part whatever the file's size), and the object appears only
    when ``commit()`` completes the upload; a writer left without it aborts the upload.
    ``open`` issues one GET and streams its body, so a reader keeps the bytes it opened
    even if the object is replaced or deleted meanwhile.

    Credentials come from botocore's chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
    ``AWS_SESSION_TOKEN``, a profile, a container or instance role) unless ``session``
    carries others. ``endpoint_url`` names a service other than AWS (``http://`` is used as
    given); ``force_path_style`` puts the bucket in the path rather than the host name.
    The connections are opened at first use, in one event loop; ``aclose()`` lets go of them.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        force_path_style: bool = False,
        part_size: int = 8 * _MIB,
        session: AioSession | None = None,
        config: AioConfig | None = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"not a bucket name: {bucket!r}")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be from {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = _checked_prefix(prefix)
        self.part_size = part_size
        self._endpoint_url = endpoint_url
        self._region = region
        self._session = session
        # "when_required": the checksum headers and trailers botocore sends by default are
        # refused by several S3-compatible services; TLS and S3's own MD5 ETags remain
        ours = AioConfig(
            # "virtual", not "auto": auto puts a custom endpoint's bucket in the path, and
            # signs AWS URLs for the global endpoint; botocore still uses the path for an IP
            # address or a dotted name over https
            s3={"addressing_style": "path" if force_path_style else "virtual"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"mode": "standard", "max_attempts": 3},
        )
        self._config = ours if config is None else ours.merge(config)
        self._client: S3Client | None = None
        self._connections: AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    def writer(self, key: str) -> S3FileWriter:
        return S3FileWriter(self, self._object(checked_file_key(key)))

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        name = self._object(checked_file_key(key))
        client = await self._s3()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) == "NoSuchKey":  # not a missing bucket: that is no lost file
                raise FileMissing(key) from exc
            raise
        try:
            chunks = _chunks(response)
            # started, so that an aclose() before the first chunk still closes the response
            await anext(chunks)
        except BaseException:
            response["Body"].close()
            raise
        return chunks

    async def delete(self, key: str) -> None:
        name = self._object(checked_file_key(key))
        client = await self._s3()
        try:
            await client.delete_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) != "NoSuchKey":  # S3 answers 204 for an unknown key; some, 404
                raise

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Aborts the multipart upload ``upload_id`` of ``key`` (``S3FileWriter.upload_id``),
        so that its parts are deleted; an unknown, completed or aborted upload is no error.

        For an upload whose writer is gone (its process died): aborting a live writer's
        upload makes its commit fail.
        """
        if not upload_id:
            raise ValueError("an upload id is a non-empty string")
        await self._abort(self._object(checked_file_key(key)), upload_id)

    async def presigned_get(self, key: str, *, expires_in: timedelta, filename: str) -> str:
        """A URL that GETs the file of ``key`` without credentials for ``expires_in`` (at
        most 7 days, and no longer than the credentials that sign it), answered with
        ``Content-Disposition: attachment; filename="{filename}"`` and
        ``Cache-Control: no-store``. It is only signed, nothing is sent: for a missing
        object the URL answers 404 (or 403 to a signer without ``s3:ListBucket``).
        """
        name = self._object(checked_file_key(key))
        if not timedelta(seconds=1) <= expires_in <= MAX_PRESIGNED:
            raise ValueError("expires_in must be from 1 second to 7 days")
        if not _FILENAME.fullmatch(filename) or '"' in filename or "\\" in filename:
            raise ValueError(f"not a plain file name (printable ASCII, no quote): {filename!r}")
        client = await self._s3()
        return await client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": name,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseCacheControl": "no-store",
            },
            ExpiresIn=int(expires_in.total_seconds()),
        )

    async def aclose(self) -> None:
        """Waits for the aborts still running, then closes the connections. The store may
        be used again afterwards (in any event loop): it opens new ones."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        connections, self._connections, self._client = self._connections, None, None
        self._loop, self._opening = None, asyncio.Lock()
        if connections is not None:
            await connections.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _s3(self) -> S3Client:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        if self._client is not None:
            raise RuntimeError("an S3FileStore serves one event loop: aclose() it first")
        async with self._opening:
            if self._client is None:
                connections = AsyncExitStack()
                session = self._session or get_session()
                self._client = await connections.enter_async_context(
                    session.create_client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region,
                        config=self._config,
                    )
                )
                self._connections, self._loop = connections, loop
            return self._client

    async def _create_upload(self, name: str) -> str:
        client = await self._s3()
        creating = asyncio.ensure_future(
            client.create_multipart_upload(Bucket=self.bucket, Key=name)
        )
        try:
            return (await asyncio.shield(creating))["UploadId"]
        except asyncio.CancelledError:
            # the upload may be made after all: abort it once its id is known
            creating.add_done_callback(lambda done: self._abort_abandoned(name, done))
            raise

    def _abort_abandoned(self, name: str, creating: asyncio.Future[Any]) -> None:
        if not creating.cancelled() and creating.exception() is None:
            self._in_background(self._abort_quietly(name, creating.result()["UploadId"]))

    async def _abort_shielded(self, name: str, upload_id: str) -> None:
        """Aborts, to the end even if the caller is cancelled meanwhile; never raises."""
        await asyncio.shield(self._in_background(self._abort_quietly(name, upload_id)))

    def _in_background(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _abort_quietly(self, name: str, upload_id: str) -> None:
        try:
            await self._abort(name, upload_id)
        except Exception as exc:  # the bucket's lifecycle rule is the backstop
            log.warning(
                "could not abort multipart upload %s of %s: %s",
                upload_id,
                name,
                type(exc).__name__,
            )

    async def _abort(self, name: str, upload_id: str) -> None:
        client = await self._s3()
        try:
            await client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":  # done already, or never was
                raise


class S3FileWriter(FileWriter):
    """One multipart upload. ``upload_id`` is known once the ``async with`` block is
    entered: record it to abort the upload later if this process dies before it ends."""

    def __init__(self, store: S3FileStore, name: str) -> None:
        self._store = store
        self._name = name
        self._upload_id: str | None = None
        self._buffer = io.BytesIO()
        self._parts: list[CompletedPartTypeDef] = []
        self._entered = False
        self._over = False
        self._failed = False
        self._committed = False
        self._completing: asyncio.Task[None] | None = None

    @property
    def upload_id(self) -> str:
        """The id of this writer's multipart upload (``RuntimeError`` before the block)."""
        if self._upload_id is None:
            raise RuntimeError("the upload is made when the writer's async with block begins")
        return self._upload_id

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a writer is used for one file only")
        self._entered = True
        self._upload_id = await self._store._create_upload(self._name)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._over = True
        self._buffer = io.BytesIO()
        if self._completing is not None:
            # a commit cancelled while completing: it ends as the service decides
            await asyncio.wait([self._completing])
            self._committed = not self._completing.cancelled() and not (
                self._completing.exception()
            )
        if not self._committed and self._upload_id is not None:
            await self._store._abort_shielded(self._name, self._upload_id)

    async def write(self, data: bytes) -> None:
        self._check_usable()
        await self._failing_on_error(lambda: self._take(memoryview(data)))

    async def commit(self) -> None:
        self._check_usable()
        await self._failing_on_error(self._complete)
        self._committed = True

    async def _take(self, data: memoryview) -> None:
        size = self._store.part_size
        while data:
            room = size - self._buffer.tell()
            self._buffer.write(data[:room])
            data = data[room:]
            if self._buffer.tell() == size:  # parts of one size: R2 wants them so
                await self._upload_part()

    async def _complete(self) -> None:
        if self._buffer.tell() or not self._parts:
            await self._upload_part()
        client = await self._store._s3()
        self._completing = asyncio.ensure_future(self._finish(client))
        await asyncio.shield(self._completing)

    async def _finish(self, client: S3Client) -> None:
        await client.complete_multipart_upload(
            Bucket=self._store.bucket,
            Key=self._name,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    async def _upload_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"a file has at most {MAX_PARTS} parts of {self._store.part_size}")
        body, self._buffer = self._buffer, io.BytesIO()
        body.seek(0)
        client = await self._store._s3()
        response = await client.upload_part(
            Bucket=self._store.bucket,
            Key=self._name,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    async def _failing_on_error(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except BaseException:
            self._failed = True
            raise

    def _check_usable(self) -> None:
        if self._committed:
            raise RuntimeError("this file is committed: write another with a new writer")
        if self._failed:
            raise RuntimeError("a write to this file failed, so it cannot be committed")
        if not self._entered or self._over:
            raise RuntimeError("use the writer inside its async with block")


async def _chunks(response: GetObjectOutputTypeDef) -> AsyncGenerator[bytes, None]:
    body = response["Body"]
    try:
        yield b""
        while chunk := await body.read(_CHUNK):
            yield chunk
    finally:
        body.close()


def _code(exc: ClientError) -> str | None:
    return exc.response.get("Error", {}).get("Code")


def _checked_prefix(prefix: str) -> str:
    stripped = prefix.strip("/")
    if stripped and not all(
        _SEGMENT.fullmatch(segment) and segment not in (".", "..")
        for segment in stripped.split("/")
    ):
        raise ValueError(f"not a key prefix (segments of printable characters): {prefix!r}")
    return stripped
