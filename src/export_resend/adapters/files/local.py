"""Export files in a local directory, each written whole or not at all."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

from export_resend.domain.ports import FileMissing, FileStore, FileWriter, checked_file_key

_PART = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.[0-9a-f]{16}\.part")
_CHUNK = 64 * 1024
_BUFFER = 256 * 1024

T = TypeVar("T")


class LocalFileStore(FileStore):
    """Files in ``directory``, which is made, readable by this user only, at the first write.

    A file is written beside its key under a hidden ``.part`` name and takes the key's
    name at commit, once it is on disk. A process that dies mid-write leaves its ``.part``
    file behind: ``sweep_partial`` removes those.
    """

    def __init__(self, directory: Path | str) -> None:
        self._directory = Path(directory)

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]:
        return _LocalFileWriter(self._directory, checked_file_key(key))

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        path = self._directory / checked_file_key(key)
        try:
            file = await _OpenFile.opening(lambda: os.open(path, os.O_RDONLY))
        except FileNotFoundError as exc:
            raise FileMissing(key) from exc
        chunks = _chunks(file)
        # started, so that an aclose() before the first chunk still runs its finally
        await anext(chunks)
        return chunks

    async def delete(self, key: str) -> None:
        await asyncio.to_thread((self._directory / checked_file_key(key)).unlink, missing_ok=True)

    def sweep_partial(self, older_than: timedelta) -> int:
        """Removes what writes that stopped ``older_than`` ago left behind; returns how many.

        Those are the ``.part`` files of writers that were neither committed nor left (their
        process died): committed files are never touched. A live writer whose last write
        is older than ``older_than`` loses its file too, so choose it longer than any pause
        between writes. It blocks: from async code, run it in a thread.
        """
        cutoff = time.time() - older_than.total_seconds()
        try:
            with os.scandir(self._directory) as entries:
                parts = [entry for entry in entries if _PART.fullmatch(entry.name)]
        except FileNotFoundError:
            return 0
        removed = 0
        for entry in parts:
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


async def _chunks(file: _OpenFile) -> AsyncGenerator[bytes, None]:
    try:
        yield b""
        while chunk := await file.run(lambda fd: os.read(fd, _CHUNK)):
            yield chunk
    finally:
        await file.close()


class _LocalFileWriter(FileWriter):
    def __init__(self, directory: Path, key: str) -> None:
        self._directory = directory
        self._target = directory / key
        self._part = directory / f".{key}.{secrets.token_hex(8)}.part"
        self._file: _OpenFile | None = None
        self._buffer = bytearray()
        self._committed = False
        self._failed = False

    async def __aenter__(self) -> Self:
        if self._file is not None:
            raise RuntimeError("a writer is used for one file only")
        self._file = await _OpenFile.opening(self._create, self._discard)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._file is not None:
            await self._file.close()

    async def write(self, data: bytes) -> None:
        file = self._usable()
        self._buffer += data
        if len(self._buffer) > _BUFFER:
            pending, self._buffer = self._buffer, bytearray()
            await self._run(file, lambda fd: _write_all(fd, pending))

    async def commit(self) -> None:
        file = self._usable()
        pending, self._buffer = self._buffer, bytearray()
        await self._run(file, lambda fd: self._publish(fd, pending))
        self._committed = True

    def _usable(self) -> _OpenFile:
        if self._committed:
            raise RuntimeError("this file is committed: write another with a new writer")
        if self._failed:
            raise RuntimeError("a write to this file failed, so it cannot be committed")
        if self._file is None or self._file.closed:
            raise RuntimeError("use the writer inside its async with block")
        return self._file

    async def _run(self, file: _OpenFile, call: Callable[[int], None]) -> None:
        try:
            await file.run(call)
        except BaseException:
            self._failed = True
            raise

    def _create(self) -> int:
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self._part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def _publish(self, fd: int, data: bytearray) -> None:
        _write_all(fd, data)
        os.fsync(fd)
        os.replace(self._part, self._target)
        directory = os.open(self._directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _discard(self) -> None:
        self._part.unlink(missing_ok=True)


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _nothing() -> None:
    return None


class _OpenFile:
    """A file descriptor whose blocking calls run in a thread, one at a time.

    A cancelled caller leaves its call running in the thread, so the descriptor is closed
    only once no call is running: closed sooner, its number could be reused meanwhile.
    """

    def __init__(self, fd: int, on_close: Callable[[], None]) -> None:
        self._fd: int | None = fd
        self._on_close = on_close
        self._running: asyncio.Future[Any] | None = None

    @classmethod
    async def opening(
        cls, open_fd: Callable[[], int], on_close: Callable[[], None] = _nothing
    ) -> _OpenFile:
        """``open_fd()`` in a thread; if the caller is cancelled, closes what it opens."""
        task = asyncio.ensure_future(asyncio.to_thread(open_fd))
        try:
            return cls(await asyncio.shield(task), on_close)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: _close_abandoned(done, on_close))
            raise

    @property
    def closed(self) -> bool:
        return self._fd is None

    async def run(self, call: Callable[[int], T]) -> T:
        if self._fd is None:
            raise RuntimeError("the file is closed")
        if self._running is not None and not self._running.done():
            raise RuntimeError("one call at a time on a file")
        task = asyncio.ensure_future(asyncio.to_thread(call, self._fd))
        self._running = task
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Closes the file once no call is running, even if this wait is cancelled."""
        running = self._running
        if running is not None and not running.done():
            running.add_done_callback(lambda _: self._close_now())
            await asyncio.wait([running])
        self._close_now()

    def _close_now(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
            self._on_close()


def _close_abandoned(opening: asyncio.Future[int], on_close: Callable[[], None]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result())
        on_close()
