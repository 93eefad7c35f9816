"""A real S3 API on 127.0.0.1 for tests (moto's server mode), with pytest fixtures.

The server (``moto.server.ThreadedMotoServer``) runs in a process of its own, started once
per session on a free port: what it stores is not counted in a test's memory, and its
threads do not compete with the test's event loop for the interpreter. Each test gets an
empty bucket of its own, and every bucket is gone after the test.

    async def test_something(s3_bucket: S3Bucket) -> None:
        store = s3_bucket.store()             # an S3FileStore on that bucket
        await s3_bucket.uploads()             # the multipart uploads in progress

Registered for every test by ``pytest_plugins`` in ``tests/conftest.py``; the server starts
only for a test that asks for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from uuid import uuid4

import httpx
import pytest
from aiobotocore.session import get_session

from export_resend.adapters.s3 import S3FileStore

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

ACCESS_KEY_ID = "AKIATESTS3EXPORTRESEND"
SECRET_ACCESS_KEY = "test-secret-key-that-must-never-be-printed"
SESSION_TOKEN = "test-session-token-that-must-never-be-printed"
REGION: Final = "eu-west-3"

_SERVE = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request, otherwise
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


class MotoServer:
    """moto's S3 on ``endpoint_url`` until ``stop()``; it ends too if this process dies
    (it waits for the end of its standard input)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        port = self._process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("moto's server did not start")
        self.port = int(port)
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget every bucket and object."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


@dataclass
class S3Bucket:
    """An empty bucket on ``server``, and a client of its own to look into it."""

    server: MotoServer
    name: str
    client: S3Client

    def store(self, **options: Any) -> S3FileStore:
        """An ``S3FileStore`` on this bucket, at the server's endpoint, in ``REGION``."""
        options.setdefault("endpoint_url", self.server.endpoint_url)
        options.setdefault("region", REGION)
        return S3FileStore(self.name, **options)

    async def uploads(self) -> list[tuple[str, str]]:
        """``(key, upload id)`` of every multipart upload in progress, by key."""
        found = (await self.client.list_multipart_uploads(Bucket=self.name)).get("Uploads", [])
        return sorted((u["Key"], u["UploadId"]) for u in found)

    async def keys(self) -> list[str]:
        """The keys of the objects in the bucket, sorted."""
        found = (await self.client.list_objects_v2(Bucket=self.name)).get("Contents", [])
        return sorted(o["Key"] for o in found)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials in the standard AWS variables, and no other source botocore's
    chain could find (a developer's profile, an instance's metadata service)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def s3_bucket(moto_server: MotoServer, aws_credentials: None) -> AsyncIterator[S3Bucket]:
    name = f"exports-{uuid4().hex[:12]}"
    try:
        async with get_session().create_client(
            "s3", endpoint_url=moto_server.endpoint_url, region_name=REGION
        ) as client:
            await client.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            yield S3Bucket(moto_server, name, client)
    finally:
        moto_server.reset()
