"""Creating, listing and revoking keys: a key works from creation until it is revoked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from export_resend.application.create_api_key import CreateApiKeyCommand
from export_resend.application.errors import Unauthenticated, ValidationFailed
from export_resend.application.revoke_api_key import ApiKeyNotFound
from export_resend.domain.api_keys import ApiKey
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.ports import UserMismatch
from tests.conftest import World
from tests.factories import NOW


def command(**change: Any) -> CreateApiKeyCommand:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "user_id": "olivia",
        "email": "olivia@acme.example.com",
        "client_type": "OPERATOR",
    }
    return CreateApiKeyCommand.model_validate(values | change)


async def test_a_created_key_authenticates_its_user_and_is_stored_as_a_hash_only(
    world: World,
) -> None:
    issued = await world.container.create_api_key()(command())
    olivia = Caller("olivia", "olivia@acme.example.com", "acme", ClientType.OPERATOR)
    assert ApiKey.parse(issued.key.text) == issued.key
    assert await world.container.authenticate_caller()(issued.key.text, "OPERATOR") == olivia
    [record] = await world.container.list_api_keys()()
    assert record.key_id == issued.key.key_id == issued.record.key_id
    assert record.caller == olivia
    assert record.created_at == NOW
    assert issued.key.secret not in repr(record)


async def test_a_supplier_key_carries_its_supplier(world: World) -> None:
    issued = await world.container.create_api_key()(
        command(user_id="sam", client_type="SUPPLIER", supplier_id="supplier-sam")
    )
    sam = await world.container.authenticate_caller()(issued.key.text, "SUPPLIER")
    assert sam.supplier_id == "supplier-sam"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_type": "SUPPLIER"}, "a SUPPLIER needs a supplier id"),
        ({"supplier_id": "supplier-1"}, "an OPERATOR has no supplier id"),
        ({"client_type": "ADMIN"}, "client_type"),
        ({"email": "Olivia <olivia@acme.example.com>"}, "email"),
        ({"email": "olivia@acme.example.com\r\nBcc: x@y.z"}, "email"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"tenant_id": "a" * 65}, "tenant_id"),
        ({"user_id": "olivia smith"}, "user_id"),
        ({"user_id": "olivia\n"}, "user_id"),
        ({"user_id": "o" * 129}, "user_id"),
        ({"role": "admin"}, "role"),
    ],
)
def test_a_key_needs_a_well_named_user(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed, match=field):
        command(**change)


async def test_a_second_key_for_a_user_must_repeat_their_details(world: World) -> None:
    create = world.container.create_api_key()
    first = await create(command())
    second = await create(command())
    assert first.key != second.key
    with pytest.raises(UserMismatch):
        await create(command(email="someone.else@acme.example.com"))
    assert len(await world.container.list_api_keys()()) == 2


async def test_keys_are_listed_oldest_first_and_by_tenant(world: World) -> None:
    create = world.container.create_api_key()
    acme = await create(command())
    world.clock.advance(timedelta(minutes=1))
    globex = await create(command(tenant_id="globex"))
    listed = world.container.list_api_keys()
    assert [r.key_id for r in await listed()] == [acme.key.key_id, globex.key.key_id]
    assert [r.key_id for r in await listed("globex")] == [globex.key.key_id]
    assert await listed("nobody") == []


async def test_a_revoked_key_stops_working_at_once(world: World) -> None:
    issued = await world.container.create_api_key()(command())
    authenticate = world.container.authenticate_caller()
    await authenticate(issued.key.text, "OPERATOR")  # now in the in-process cache
    revoked_at = world.clock.advance(timedelta(hours=1))
    record = await world.container.revoke_api_key()(issued.key.key_id)
    assert record.revoked_at == revoked_at
    with pytest.raises(Unauthenticated):
        await authenticate(issued.key.text, "OPERATOR")
    [listed] = await world.container.list_api_keys()()
    assert listed.revoked_at == revoked_at
    assert listed.last_used_at == NOW


async def test_revoking_twice_keeps_the_first_time(world: World) -> None:
    issued = await world.container.create_api_key()(command())
    first = await world.container.revoke_api_key()(issued.key.key_id)
    world.clock.advance(timedelta(days=1))
    assert await world.container.revoke_api_key()(issued.key.key_id) == first


async def test_revoking_an_unknown_key_id_says_so(world: World) -> None:
    with pytest.raises(ApiKeyNotFound, match="no API key has the id 'nope'"):
        await world.container.revoke_api_key()("nope")
