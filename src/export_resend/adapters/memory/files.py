"""Export files as bytes in a dictionary."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Self

from export_resend.domain.ports import FileMissing, FileStore, FileWriter, checked_file_key

_CHUNK = 64 * 1024


class InMemoryFileStore(FileStore):
    """Files by key, for as long as the process lives, with the same keys as ``LocalFileStore``."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def writer(self, key: str) -> AbstractAsyncContextManager[FileWriter]:
        return _InMemoryFileWriter(self._files, checked_file_key(key))

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        try:
            data = self._files[checked_file_key(key)]
        except KeyError:
            raise FileMissing(key) from None
        return _chunks(data)

    async def delete(self, key: str) -> None:
        self._files.pop(checked_file_key(key), None)

    def keys(self) -> list[str]:
        """The keys of the committed files, sorted: what a test checks was kept or removed."""
        return sorted(self._files)


async def _chunks(data: bytes) -> AsyncGenerator[bytes, None]:
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


class _InMemoryFileWriter(FileWriter):
    def __init__(self, files: dict[str, bytes], key: str) -> None:
        self._files = files
        self._key = key
        self._parts: list[bytes] = []
        self._entered = False
        self._over = False
        self._committed = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a writer is used for one file only")
        self._entered = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._over = True
        self._parts.clear()

    async def write(self, data: bytes) -> None:
        self._check_usable()
        self._parts.append(bytes(data))

    async def commit(self) -> None:
        self._check_usable()
        self._files[self._key] = b"".join(self._parts)
        self._committed = True
        self._parts.clear()

    def _check_usable(self) -> None:
        if self._committed:
            raise RuntimeError("this file is committed: write another with a new writer")
        if not self._entered or self._over:
            raise RuntimeError("use the writer inside its async with block")
