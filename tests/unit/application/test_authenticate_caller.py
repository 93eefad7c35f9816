"""Authentication: a known key and its user's own client type, or nothing."""

from __future__ import annotations

import pytest

from export_resend.application.authenticate_caller import hash_api_key
from export_resend.application.errors import ClientNotAllowed, Unauthenticated
from export_resend.domain.caller import ClientType
from tests.conftest import World
from tests.factories import caller

SAM = caller("sam", "acme", ClientType.SUPPLIER)


async def test_a_known_key_with_its_client_type_is_its_caller(world: World) -> None:
    key = await world.add_caller(SAM)
    assert await world.container.authenticate_caller()(key, "SUPPLIER") == SAM


@pytest.mark.parametrize(
    ("key", "client"),
    [(None, "SUPPLIER"), ("", "SUPPLIER"), ("KEY", None), ("KEY", ""), ("wrong", "SUPPLIER")],
)
async def test_missing_or_unknown_credentials_are_unauthenticated(
    world: World, key: str | None, client: str | None
) -> None:
    real = await world.add_caller(SAM)
    with pytest.raises(Unauthenticated):
        await world.container.authenticate_caller()(real if key == "KEY" else key, client)


@pytest.mark.parametrize("client", ["OPERATOR", "ACCOUNT", "supplier", "ADMIN"])
async def test_another_client_type_is_not_allowed(world: World, client: str) -> None:
    key = await world.add_caller(SAM)
    with pytest.raises(ClientNotAllowed):
        await world.container.authenticate_caller()(key, client)


def test_keys_are_stored_as_sha256_hex() -> None:
    digest = hash_api_key("abc")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
