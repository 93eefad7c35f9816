"""The service with its files in a bucket (moto's S3 server, over HTTP), wired from settings
alone: an export requested through the app is generated into the bucket, downloaded from it
byte for byte, and its object deleted by the expiry sweep."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from dependency_injector import providers

from export_resend.adapters.memory import InMemoryMailer
from export_resend.adapters.s3 import S3FileStore
from export_resend.container import Container
from export_resend.domain.caller import Caller, ClientType
from export_resend.main import create_app
from export_resend.settings import Settings
from export_resend.testing import ManualClock
from tests.conftest import LINK_SECRET, issue_key
from tests.factories import NOW
from tests.s3 import REGION, S3Bucket

OLIVIA = Caller("olivia", "olivia@acme.example.com", "acme", ClientType.OPERATOR)
_LINK = re.compile(r"http://127\.0\.0\.1:8000(/v1/exports/[0-9a-f-]+/download\?token=[^\s\"<]+)")


async def test_an_export_is_generated_into_the_bucket_downloaded_from_it_and_swept(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            "files_url": f"s3://{s3_bucket.name}/exports/eu",
            "s3_endpoint_url": s3_bucket.server.endpoint_url,
            "s3_region": REGION,
            "link_secret": LINK_SECRET,
            "mailer": "memory",
            "dispatch_poll_interval": 0.05,
            "demo_rows": 5000,
        }
    )
    container = Container(settings=settings)
    clock = ManualClock(NOW)
    container.clock.override(providers.Object(clock))
    store = container.file_store()
    assert isinstance(store, S3FileStore)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        headers = {"dj-api-key": await issue_key(container.api_keys(), OLIVIA)}
        headers["dj-client"] = "OPERATOR"
        requested = await client.post("/v1/payments/funding-transfers/export", headers=headers)
        assert requested.status_code == 202, requested.text
        mailer = container.mailer()
        assert isinstance(mailer, InMemoryMailer)
        for _ in range(400):  # the generator, then the dispatcher, run in tasks of their own
            if mailer.sent:
                break
            await asyncio.sleep(0.05)
        body = mailer.sent[0].message.get_body(("plain",))
        assert body is not None
        link = _LINK.search(body.get_content())
        assert link is not None

        [key] = await s3_bucket.keys()
        assert key.startswith("exports/eu/")
        assert await s3_bucket.uploads() == []
        stored = await s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)
        data = await stored["Body"].read()
        downloaded = await client.get(link[1])
        assert downloaded.status_code == 200
        assert downloaded.content == data
        assert downloaded.content.count(b"\n") > 1000

        clock.advance(settings.link_ttl)
        async with asyncio.timeout(10):
            while await s3_bucket.keys():
                await container.expire_exports()()
                await asyncio.sleep(0.05)
        assert (await client.get(link[1])).status_code == 410
    assert store._client is None  # closed by the lifespan
