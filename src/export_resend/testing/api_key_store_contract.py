"""The contract suite of ``ApiKeyStore``: subclass it and provide an ``api_keys`` fixture::

    class TestMyApiKeyStore(ApiKeyStoreContract):
        @pytest.fixture
        def api_keys(self) -> ApiKeyStore:
            return MyApiKeyStore(...)

Each test works in tenants of its own, so the store may be shared with other tests.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from export_resend.domain.api_keys import ApiKey
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.ports import ApiKeyStore, DuplicateId, UnknownId, UserMismatch
from export_resend.testing.samples import SAMPLE_MOMENT as _T0
from export_resend.testing.samples import sample_key_record

__all__ = ["ApiKeyStoreContract", "sample_key_record"]


class ApiKeyStoreContract:
    """What every ``ApiKeyStore`` must do. Needs an ``api_keys`` fixture.

    Each test works in tenants of its own, so the store may be shared with other tests.
    """

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def api_keys(self) -> ApiKeyStore:
        raise NotImplementedError("provide the api_keys fixture")

    async def test_a_key_finds_its_caller(self, api_keys: ApiKeyStore) -> None:
        sam = Caller("sam", "sam@acme.example.com", uuid4().hex, ClientType.SUPPLIER, "supplier-1")
        digest, record = sample_key_record(sam)
        await api_keys.add(digest, record)
        assert await api_keys.find_caller(digest) == sam

    async def test_an_unknown_key_finds_nobody(self, api_keys: ApiKeyStore) -> None:
        assert await api_keys.find_caller(uuid4().hex * 2) is None

    async def test_a_stored_digest_cannot_be_added_again(self, api_keys: ApiKeyStore) -> None:
        digest, record = sample_key_record()
        await api_keys.add(digest, record)
        with pytest.raises(DuplicateId):
            await api_keys.add(digest, dataclasses.replace(record, key_id=ApiKey.generate().key_id))
        assert await api_keys.find_caller(digest) == record.caller
        assert await api_keys.list(record.caller.tenant_id) == [record]

    async def test_a_stored_key_id_cannot_be_added_again(self, api_keys: ApiKeyStore) -> None:
        digest, record = sample_key_record()
        await api_keys.add(digest, record)
        other, _ = sample_key_record()
        with pytest.raises(DuplicateId):
            await api_keys.add(other, record)
        assert await api_keys.find_caller(other) is None
        assert await api_keys.list(record.caller.tenant_id) == [record]

    async def test_keys_without_an_id_clash_with_nothing(self, api_keys: ApiKeyStore) -> None:
        first, record = sample_key_record()
        second, _ = sample_key_record()
        legacy = dataclasses.replace(record, key_id=None)
        await api_keys.add(first, legacy)
        await api_keys.add(second, legacy)
        assert await api_keys.find_caller(second) == record.caller
        assert await api_keys.list(record.caller.tenant_id) == [legacy, legacy]

    async def test_a_user_has_many_keys_with_the_same_details(self, api_keys: ApiKeyStore) -> None:
        first, record = sample_key_record()
        second, again = sample_key_record(record.caller, _T0 + timedelta(seconds=1))
        await api_keys.add(first, record)
        await api_keys.add(second, again)
        assert await api_keys.find_caller(first) == await api_keys.find_caller(second)

    @pytest.mark.parametrize(
        "change",
        [
            {"email": "other@acme.example.com"},
            {"client_type": ClientType.SUPPLIER, "supplier_id": "supplier-1"},
            {"client_type": ClientType.ACCOUNT},
        ],
    )
    async def test_a_stored_user_with_other_details_is_refused(
        self, api_keys: ApiKeyStore, change: dict[str, Any]
    ) -> None:
        first, record = sample_key_record()
        await api_keys.add(first, record)
        second, other = sample_key_record(dataclasses.replace(record.caller, **change))
        with pytest.raises(UserMismatch):
            await api_keys.add(second, other)
        assert await api_keys.find_caller(second) is None
        assert await api_keys.find_caller(first) == record.caller
        assert await api_keys.list(record.caller.tenant_id) == [record]

    async def test_list_gives_every_key_of_a_tenant_oldest_first_exactly_as_stored(
        self, api_keys: ApiKeyStore
    ) -> None:
        tenant = uuid4().hex
        olivia = Caller("olivia", "olivia@acme.example.com", tenant, ClientType.OPERATOR)
        sam = Caller("sam", "sam@acme.example.com", tenant, ClientType.SUPPLIER, "supplier-1")
        records = []
        for who, minutes in ((sam, 5), (olivia, 1), (olivia, 3)):
            digest, record = sample_key_record(who, _T0 + timedelta(minutes=minutes))
            record = dataclasses.replace(
                record, last_used_at=_T0 + timedelta(hours=minutes), revoked_at=None
            )
            await api_keys.add(digest, record)
            records.append(record)
        elsewhere, other = sample_key_record()
        await api_keys.add(elsewhere, other)
        assert await api_keys.list(tenant) == [records[1], records[2], records[0]]
        everything = await api_keys.list()
        assert {r.key_id for r in [*records, other]} <= {r.key_id for r in everything}
        assert [r.created_at for r in everything] == sorted(r.created_at for r in everything)

    async def test_a_revoked_key_finds_nobody_and_is_listed_revoked(
        self, api_keys: ApiKeyStore
    ) -> None:
        revoked, record = sample_key_record()
        kept, other = sample_key_record(record.caller)
        await api_keys.add(revoked, record)
        await api_keys.add(kept, other)
        assert record.key_id is not None
        at = _T0 + timedelta(days=1)
        assert await api_keys.revoke(record.key_id, at) == dataclasses.replace(
            record, revoked_at=at
        )
        assert await api_keys.find_caller(revoked) is None
        assert await api_keys.find_caller(kept) == record.caller
        listed = {r.key_id: r for r in await api_keys.list(record.caller.tenant_id)}
        assert listed[record.key_id].revoked_at == at
        assert listed[other.key_id].revoked_at is None

    async def test_a_key_revoked_again_keeps_its_first_revocation(
        self, api_keys: ApiKeyStore
    ) -> None:
        digest, record = sample_key_record()
        await api_keys.add(digest, record)
        assert record.key_id is not None
        first = await api_keys.revoke(record.key_id, _T0 + timedelta(days=1))
        assert await api_keys.revoke(record.key_id, _T0 + timedelta(days=2)) == first

    async def test_revoking_an_unknown_key_id_is_refused(self, api_keys: ApiKeyStore) -> None:
        with pytest.raises(UnknownId):
            await api_keys.revoke(ApiKey.generate().key_id, _T0)

    async def test_a_use_is_recorded_once_per_period(self, api_keys: ApiKeyStore) -> None:
        digest, record = sample_key_record()
        await api_keys.add(digest, record)
        period = timedelta(minutes=1)

        async def used(at: datetime) -> datetime | None:
            await api_keys.record_use(digest, at, unless_used_since=at - period)
            [listed] = await api_keys.list(record.caller.tenant_id)
            return listed.last_used_at

        first = _T0 + timedelta(hours=1)
        assert await used(first) == first
        assert await used(first + timedelta(seconds=59)) == first
        assert await used(first + period) == first  # not before the period's start: no write
        later = first + period + timedelta(microseconds=1)
        assert await used(later) == later

    async def test_a_use_never_moves_last_used_back(self, api_keys: ApiKeyStore) -> None:
        digest, record = sample_key_record()
        await api_keys.add(digest, dataclasses.replace(record, last_used_at=_T0))
        earlier = _T0 - timedelta(hours=1)
        await api_keys.record_use(digest, earlier, unless_used_since=earlier - timedelta(minutes=1))
        [listed] = await api_keys.list(record.caller.tenant_id)
        assert listed.last_used_at == _T0

    async def test_the_use_of_an_unknown_key_is_no_error(self, api_keys: ApiKeyStore) -> None:
        await api_keys.record_use(uuid4().hex * 2, _T0, unless_used_since=_T0)
