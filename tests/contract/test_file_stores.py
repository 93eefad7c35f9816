"""Every file store passes the FileStore contract; the local one also keeps its disk tidy.

The S3 store's own behaviour (uploads, presigned URLs, addressing) is in test_s3_file_store.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from export_resend.adapters.files import LocalFileStore
from export_resend.adapters.memory import InMemoryFileStore
from export_resend.domain.ports import FileMissing, FileStore
from export_resend.testing import FileStoreContract
from tests.s3 import S3Bucket


class TestLocalFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self, tmp_path: Path) -> FileStore:
        return LocalFileStore(tmp_path / "files")


class TestInMemoryFileStore(FileStoreContract):
    @pytest.fixture
    def file_store(self) -> FileStore:
        return InMemoryFileStore()


class TestS3FileStore(FileStoreContract):
    """On moto's S3 server, over HTTP; parts of 5 MiB (the least S3 takes), so that the
    contract's largest file is two parts."""

    @pytest.fixture
    async def file_store(self, s3_bucket: S3Bucket) -> AsyncIterator[FileStore]:
        async with s3_bucket.store(prefix="exports/v1", part_size=5 * 1024 * 1024) as store:
            yield store


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def store(directory: Path) -> LocalFileStore:
    return LocalFileStore(directory)


def _names(directory: Path) -> list[str]:
    """What is in ``directory``, sorted; nothing if it does not exist."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.part"))


def _exists(path: Path) -> bool:
    return path.exists()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_write_goes_to_a_part_file_until_commit(
    store: LocalFileStore, directory: Path
) -> None:
    async with store.writer("a.csv") as writer:
        await writer.write(b"x" * 300_000)
        [part] = _parts(directory)
        assert part.name.startswith(".a.csv.")
        assert not (directory / "a.csv").exists()
        await writer.commit()
        assert _parts(directory) == []
    assert _names(directory) == ["a.csv"]


@pytest.mark.parametrize("fails", [False, True])
async def test_a_write_left_without_commit_leaves_no_part_file(
    store: LocalFileStore, directory: Path, fails: bool
) -> None:
    with pytest.raises(KeyError) if fails else contextlib.nullcontext():
        async with store.writer("a.csv") as writer:
            await writer.write(b"x" * 300_000)
            assert len(_parts(directory)) == 1
            if fails:
                raise KeyError("boom")
    assert _names(directory) == []


async def test_a_write_cancelled_while_writing_leaves_no_part_file(
    store: LocalFileStore, directory: Path
) -> None:
    started = asyncio.Event()

    async def write_forever() -> None:
        async with store.writer("a.csv") as writer:
            while True:
                await writer.write(b"x" * 1_000_000)
                started.set()

    task = asyncio.create_task(write_forever())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _names(directory) == []


async def test_a_write_cancelled_while_opening_leaves_no_part_file(
    store: LocalFileStore, directory: Path
) -> None:
    async def write() -> None:
        async with store.writer("a.csv") as writer:
            await writer.commit()

    task = asyncio.create_task(write())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the thread that makes the directory, then the part file, runs on after the cancel
    for _ in range(500):
        if _exists(directory) and _parts(directory) == []:
            break
        await asyncio.sleep(0.01)
    assert _names(directory) == []


async def test_a_writer_whose_write_was_cancelled_cannot_commit(
    store: LocalFileStore, directory: Path
) -> None:
    async with store.writer("a.csv") as writer:
        write = asyncio.create_task(writer.write(b"x" * 1_000_000))
        await asyncio.sleep(0)
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        with pytest.raises(RuntimeError, match="failed"):
            await writer.commit()
    with pytest.raises(FileMissing):
        await store.open("a.csv")
    assert _names(directory) == []


@pytest.mark.parametrize("make", [LocalFileStore, lambda _: InMemoryFileStore()])
async def test_a_writer_is_refused_after_commit_and_outside_its_block(
    directory: Path, make: Callable[[Path], FileStore]
) -> None:
    file_store = make(directory)
    async with file_store.writer("a.csv") as writer:
        await writer.write(b"x")
        await writer.commit()
        with pytest.raises(RuntimeError, match="committed"):
            await writer.write(b"y")
        with pytest.raises(RuntimeError, match="committed"):
            await writer.commit()
    async with file_store.writer("b.csv") as left:
        pass
    with pytest.raises(RuntimeError, match="async with"):
        await left.write(b"y")
    with pytest.raises(RuntimeError, match="async with"):
        await left.commit()
    with pytest.raises(FileMissing):
        await file_store.open("b.csv")
    chunks = await file_store.open("a.csv")
    assert [chunk async for chunk in chunks] == [b"x"]


async def test_files_and_their_directory_are_private(
    store: LocalFileStore, directory: Path
) -> None:
    async with store.writer("a.csv") as writer:
        [part] = _parts(directory)
        assert _mode(part) == 0o600
        await writer.write(b"x")
        await writer.commit()
    assert _mode(directory) == 0o700
    assert _mode(directory / "a.csv") == 0o600


async def test_the_store_makes_its_directory_only_when_writing(
    store: LocalFileStore, directory: Path
) -> None:
    assert store.sweep_partial(timedelta(0)) == 0
    with pytest.raises(FileMissing):
        await store.open("a.csv")
    await store.delete("a.csv")
    assert not _exists(directory)
    async with store.writer("a.csv"):
        assert _exists(directory)


async def test_sweeping_removes_only_old_part_files(store: LocalFileStore, directory: Path) -> None:
    for key in ("a.csv", "b.part"):
        async with store.writer(key) as writer:
            await writer.commit()
    old_part = directory / ".a.csv.0123456789abcdef.part"
    new_part = directory / ".b.csv.fedcba9876543210.part"
    stranger = directory / ".notes.part"
    for path in (old_part, new_part, stranger):
        path.write_bytes(b"partial")
    hours_ago = time.time() - 2 * 3600
    for path in (old_part, stranger, directory / "a.csv", directory / "b.part"):
        os.utime(path, (hours_ago, hours_ago))

    assert store.sweep_partial(timedelta(hours=1)) == 1

    assert _names(directory) == [".b.csv.fedcba9876543210.part", ".notes.part", "a.csv", "b.part"]
    assert store.sweep_partial(timedelta(hours=1)) == 0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
async def test_readers_let_go_of_their_file_however_they_end(store: LocalFileStore) -> None:
    async with store.writer("a.csv") as writer:
        await writer.write(os.urandom(200_000))
        await writer.commit()
    before = len(os.listdir("/proc/self/fd"))

    await (await store.open("a.csv")).aclose()
    begun = await store.open("a.csv")
    await anext(begun)
    await begun.aclose()
    [chunk async for chunk in await store.open("a.csv")]
    with pytest.raises(FileMissing):
        await store.open("b.csv")

    assert len(os.listdir("/proc/self/fd")) == before
