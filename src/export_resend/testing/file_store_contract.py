"""The contract suite of ``FileStore``: subclass it and provide a ``file_store`` fixture.

It needs pytest and pytest-asyncio only, so that a host service can hold its own store
(on S3, say) to the same contract as ours::

    class TestMyFileStore(FileStoreContract):
        @pytest.fixture
        def file_store(self) -> FileStore:
            return MyFileStore(...)

Every test uses keys of its own, so a store that outlives one test does not upset the next.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable
from uuid import uuid4

import pytest

from export_resend.domain.ports import FileMissing, FileStore

_CHUNK = 64 * 1024
_MIB = 1024 * 1024


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


def _key() -> str:
    return f"export-{uuid4().hex}.csv"


async def _write(store: FileStore, key: str, *pieces: bytes) -> None:
    async with store.writer(key) as writer:
        for piece in pieces:
            await writer.write(piece)
        await writer.commit()


async def _write_with_pauses(store: FileStore, key: str, data: bytes, pieces: int) -> None:
    size = -(-len(data) // pieces)
    async with store.writer(key) as writer:
        for start in range(0, len(data), size):
            await writer.write(data[start : start + size])
            await asyncio.sleep(0)
        await writer.commit()


async def _chunks_of(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def _read(store: FileStore, key: str) -> bytes:
    return b"".join(await _chunks_of(await store.open(key)))


async def _close(chunks: AsyncIterator[bytes]) -> None:
    assert isinstance(chunks, _Closable), "open() must return something with aclose()"
    await chunks.aclose()


def _pieces(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    pieces: list[bytes] = []
    start = turn = 0
    while start < len(data):
        size = sizes[turn % len(sizes)]
        pieces.append(data[start : start + size])
        start, turn = start + size, turn + 1
    return pieces


class _Failure(Exception):
    pass


class FileStoreContract:
    """What every ``FileStore`` must do. Needs a ``file_store`` fixture."""

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def file_store(self) -> FileStore:
        raise NotImplementedError("provide the file_store fixture")

    async def test_a_file_comes_back_exactly_as_written(self, file_store: FileStore) -> None:
        key = _key()
        await _write(file_store, key, b"id,amount\r\n", b"1,", b"9.99\r\n", bytes(range(256)))
        assert await _read(file_store, key) == b"id,amount\r\n1,9.99\r\n" + bytes(range(256))

    async def test_an_empty_file_comes_back_empty(self, file_store: FileStore) -> None:
        key = _key()
        await _write(file_store, key)
        assert await _read(file_store, key) == b""

    async def test_a_large_file_written_in_small_and_large_pieces_comes_back_in_small_chunks(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        data = os.urandom(5 * _MIB + 12_345)
        pieces = _pieces(data, [1, 17, 4096, 70_000, 3, 2 * _MIB, 65_536, 250, 300_000, 9])
        await _write(file_store, key, *pieces)
        chunks = await _chunks_of(await file_store.open(key))
        assert all(0 < len(chunk) <= _CHUNK for chunk in chunks)
        assert b"".join(chunks) == data

    async def test_nothing_is_stored_before_commit(self, file_store: FileStore) -> None:
        key = _key()
        async with file_store.writer(key) as writer:
            await writer.write(b"a" * 300_000)
            with pytest.raises(FileMissing):
                await file_store.open(key)
            await writer.commit()
        assert await _read(file_store, key) == b"a" * 300_000

    async def test_a_file_being_rewritten_reads_as_before_until_commit(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        await _write(file_store, key, b"old")
        async with file_store.writer(key) as writer:
            await writer.write(b"new" * 100_000)
            assert await _read(file_store, key) == b"old"
            await writer.commit()
        assert await _read(file_store, key) == b"new" * 100_000

    async def test_a_writer_left_without_commit_stores_nothing(self, file_store: FileStore) -> None:
        key = _key()
        async with file_store.writer(key) as writer:
            await writer.write(b"b" * 300_000)
        with pytest.raises(FileMissing):
            await file_store.open(key)

    async def test_a_writer_left_without_commit_keeps_the_file_already_there(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        await _write(file_store, key, b"kept")
        async with file_store.writer(key) as writer:
            await writer.write(b"lost" * 100_000)
        assert await _read(file_store, key) == b"kept"

    async def test_a_writer_left_by_an_exception_discards_its_file(
        self, file_store: FileStore
    ) -> None:
        kept, lost = _key(), _key()
        await _write(file_store, kept, b"kept")
        for key in (kept, lost):
            with pytest.raises(_Failure):
                async with file_store.writer(key) as writer:
                    await writer.write(b"lost" * 100_000)
                    raise _Failure
        assert await _read(file_store, kept) == b"kept"
        with pytest.raises(FileMissing):
            await file_store.open(lost)

    async def test_a_commit_over_an_existing_key_replaces_it_whole(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        await _write(file_store, key, b"long " * 100_000)
        await _write(file_store, key, b"short")
        assert await _read(file_store, key) == b"short"

    async def test_opening_an_unknown_key_raises_file_missing(self, file_store: FileStore) -> None:
        with pytest.raises(FileMissing):
            await file_store.open(_key())

    async def test_a_deleted_file_is_gone_and_its_key_can_be_used_again(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        await _write(file_store, key, b"first")
        await file_store.delete(key)
        with pytest.raises(FileMissing):
            await file_store.open(key)
        await _write(file_store, key, b"second")
        assert await _read(file_store, key) == b"second"

    async def test_deleting_twice_or_an_unknown_key_is_no_error(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        await _write(file_store, key, b"x")
        await file_store.delete(key)
        await file_store.delete(key)
        await file_store.delete(_key())
        with pytest.raises(FileMissing):
            await file_store.open(key)

    async def test_a_reader_opened_before_a_delete_still_reads_the_old_bytes(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        data = os.urandom(300_000)
        await _write(file_store, key, data)
        unread = await file_store.open(key)
        begun = await file_store.open(key)
        first = await anext(begun)
        await file_store.delete(key)
        assert b"".join(await _chunks_of(unread)) == data
        assert first + b"".join(await _chunks_of(begun)) == data

    async def test_a_reader_opened_before_a_replace_still_reads_the_old_bytes(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        old, new = os.urandom(300_000), os.urandom(200_000)
        await _write(file_store, key, old)
        unread = await file_store.open(key)
        begun = await file_store.open(key)
        first = await anext(begun)
        await _write(file_store, key, new)
        assert b"".join(await _chunks_of(unread)) == old
        assert first + b"".join(await _chunks_of(begun)) == old
        assert await _read(file_store, key) == new

    async def test_a_reader_may_be_closed_before_its_end_or_its_start(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        data = os.urandom(200_000)
        await _write(file_store, key, data)
        await _close(await file_store.open(key))
        begun = await file_store.open(key)
        await anext(begun)
        await _close(begun)
        await file_store.delete(key)
        await _write(file_store, key, data[:10])
        assert await _read(file_store, key) == data[:10]

    async def test_readers_at_once_each_read_the_whole_file(self, file_store: FileStore) -> None:
        key = _key()
        data = os.urandom(500_000)
        await _write(file_store, key, data)
        read = await asyncio.gather(*(_read(file_store, key) for _ in range(4)))
        assert read == [data] * 4

    async def test_writers_on_different_keys_at_once_each_store_their_own_bytes(
        self, file_store: FileStore
    ) -> None:
        files = {_key(): os.urandom(100_000 + n) for n in range(6)}
        await asyncio.gather(*(_write_with_pauses(file_store, k, d, 7) for k, d in files.items()))
        for key, data in files.items():
            assert await _read(file_store, key) == data

    async def test_two_writers_on_one_key_at_once_leave_one_of_the_two_whole(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        first, second = b"1" * 700_000, b"2" * 400_000
        await asyncio.gather(
            _write_with_pauses(file_store, key, first, 10),
            _write_with_pauses(file_store, key, second, 10),
        )
        assert await _read(file_store, key) in (first, second)

    async def test_writers_readers_and_deletes_at_once_on_one_key_see_only_whole_files(
        self, file_store: FileStore
    ) -> None:
        key = _key()
        versions = [bytes([65 + n]) * (150_000 + 1000 * n) for n in range(4)]
        await _write(file_store, key, versions[0])

        async def read_whole_or_nothing() -> bytes | None:
            try:
                return await _read(file_store, key)
            except FileMissing:
                return None

        writes = [_write_with_pauses(file_store, key, v, 5) for v in versions[1:]]
        reads = [read_whole_or_nothing() for _ in range(4)]
        *_, seen = await asyncio.gather(
            asyncio.gather(*writes), file_store.delete(key), asyncio.gather(*reads)
        )
        assert all(read in (None, *versions) for read in seen)
        assert await read_whole_or_nothing() in (None, *versions)

    @pytest.mark.parametrize(
        "key",
        ["../x", "a/b", "/etc/passwd", ".hidden", "", "a" * 300, "line\n", "nul\x00", ".."],
    )
    async def test_an_invalid_key_is_refused_by_every_method(
        self, file_store: FileStore, key: str
    ) -> None:
        async def write() -> None:
            async with file_store.writer(key) as writer:
                await writer.write(b"x")
                await writer.commit()

        for use in (write, lambda: file_store.open(key), lambda: file_store.delete(key)):
            with pytest.raises(ValueError):  # noqa: PT011 (each store words it its own way)
                await use()
