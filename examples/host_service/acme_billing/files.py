"""acme's file volume: export files as plain files in one directory."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from export_resend.domain.ports import FileMissing, FileStore, FileWriter, checked_file_key

_CHUNK = 64 * 1024


class VolumeFileStore(FileStore):
    """Files in ``directory`` (made on first write). A file is written under a hidden
    name and renamed onto its key at commit, so a reader sees it whole or not at all; an
    open file keeps its bytes when it is deleted or replaced (POSIX)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]:
        return _VolumeWriter(self._directory, checked_file_key(key))

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._directory / checked_file_key(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise FileMissing(key) from None
        return _Chunks(file)

    async def delete(self, key: str) -> None:
        path = self._directory / checked_file_key(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)


class _Chunks(AsyncIterator[bytes]):
    """The chunks of an open file; the file is closed at its end, or by ``aclose()``."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    async def __anext__(self) -> bytes:
        if self._file.closed:
            raise StopAsyncIteration
        chunk = await asyncio.to_thread(self._file.read, _CHUNK)
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self._file.close()


class _VolumeWriter(FileWriter):
    def __init__(self, directory: Path, key: str) -> None:
        self._directory = directory
        self._key = key
        self._draft: IO[bytes] | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        def create() -> IO[bytes]:
            self._directory.mkdir(parents=True, exist_ok=True)
            return tempfile.NamedTemporaryFile(
                dir=self._directory, prefix=f".{self._key}.", suffix=".part", delete=False
            )

        self._draft = await asyncio.to_thread(create)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        draft, self._draft = self._draft, None
        if draft is not None and not self._committed:
            draft.close()
            await asyncio.to_thread(os.unlink, draft.name)

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._usable().write, data)

    async def commit(self) -> None:
        draft = self._usable()

        def publish() -> None:
            draft.flush()
            os.fsync(draft.fileno())
            draft.close()
            os.replace(draft.name, self._directory / self._key)

        await asyncio.to_thread(publish)
        self._committed = True

    def _usable(self) -> IO[bytes]:
        if self._draft is None or self._committed:
            raise RuntimeError("write and commit inside 'async with', before commit")
        return self._draft
