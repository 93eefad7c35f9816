"""The CSV of an export: the format of each cell, and that any value survives the file."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, get_type_hints

import pytest
from hypothesis import given
from hypothesis import strategies as st

from export_resend.application.csv_writer import CsvEncoder, cells, header, neutralise, restore
from export_resend.domain.records import (
    BalanceAccountType,
    FundingTransfer,
    FundingTransferStatus,
    MarketplacePayout,
    MarketplacePayoutStatus,
    Record,
    RelatedEntityType,
    SupplierPayout,
    SupplierPayoutStatus,
    TransactionEvent,
    TransactionEventStatus,
)

RECORD_TYPES: list[type[Record]] = [
    TransactionEvent,
    SupplierPayout,
    FundingTransfer,
    MarketplacePayout,
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MOMENT = datetime(2026, 10, 31, 9, 15, tzinfo=UTC)


def read(data: bytes) -> list[list[str]]:
    """The rows of a CSV, read the way docs/exports.md tells people to."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=";"))


def event(**changes: Any) -> TransactionEvent:
    values: dict[str, Any] = {
        "event_id": "evt_00000001",
        "transaction_id": "txn_0325d460663d",
        "commercial_order_reference": "CO-2026-000001",
        "supplier_id": "supplier-sam",
        "customer_account": "Agence Lyon",
        "payment_method": "Credit card",
        "payment_network": "Visa",
        "psp_reference": "5022861365917247",
        "status": TransactionEventStatus.PAID,
        "amount": Decimal("19481.40"),
        "currency": "EUR",
        "updated_at": MOMENT,
    }
    return TransactionEvent(**(values | changes))


def encoded(*records: Record) -> bytes:
    encoder = CsvEncoder(type(records[0]))
    return encoder.header_bytes() + encoder.encode(records)


# -- any value survives the file --------------------------------------------------------

_TRICKY = ";\"'\n\r\t=+-@ ,aé€\x00"
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(_TRICKY)),
    st.tuples(st.sampled_from([*FORMULA_STARTS, "'", "''", '"', ";"]), st.text()).map("".join),
)
plain_texts = st.text(
    alphabet=st.characters(exclude_characters=';"\n\r', exclude_categories=["Cs"])
)
"""Texts that need no quotes: whole batches of them take the encoder's fast path."""
amounts = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(places=2, min_value=-(10**9), max_value=10**9),
)
moments = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(0), "UTC")]))


def _values(hint: object, texts: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    strategies: dict[object, st.SearchStrategy[Any]] = {
        str: texts,
        str | None: st.none() | texts,
        Decimal: amounts,
        datetime: moments,
        datetime | None: st.none() | moments,
        int: st.integers(min_value=0),
    }
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return st.sampled_from(hint)
    return strategies[hint]


def records(
    record_type: type[Record], texts: st.SearchStrategy[str] = texts
) -> st.SearchStrategy[Record]:
    hints = get_type_hints(record_type)
    return st.builds(
        record_type, **{f.name: _values(hints[f.name], texts) for f in fields(record_type)}
    )


def batches(record_type: type[Record]) -> st.SearchStrategy[list[Record]]:
    """Up to 4 records, whose texts may be anything, or none of which needs quotes."""
    return st.sampled_from([texts, plain_texts]).flatmap(
        lambda some_texts: st.lists(records(record_type, some_texts), max_size=4)
    )


def _text_columns(record_type: type[Record]) -> list[int]:
    hints = get_type_hints(record_type)
    return [i for i, f in enumerate(fields(record_type)) if hints[f.name] in (str, str | None)]


def _amount_columns(record_type: type[Record]) -> list[int]:
    return [i for i, f in enumerate(fields(record_type)) if f.name == "amount"]


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.__name__)
@given(data=st.data())
def test_any_rows_read_back_as_their_cells_and_texts_restore_to_the_original(
    record_type: type[Record], data: st.DataObject
) -> None:
    first = data.draw(batches(record_type), label="first batch")
    second = data.draw(batches(record_type), label="second batch")
    encoder = CsvEncoder(record_type)

    rows = read(encoder.header_bytes() + encoder.encode(first) + encoder.encode(second))

    assert rows[0] == header(record_type)
    assert rows[1:] == [cells(record) for record in [*first, *second]]
    names = [f.name for f in fields(record_type)]
    for record, row in zip([*first, *second], rows[1:], strict=True):
        for i in _text_columns(record_type):
            assert restore(row[i]) == (getattr(record, names[i]) or "")


@pytest.mark.parametrize("record_type", RECORD_TYPES, ids=lambda t: t.__name__)
@given(data=st.data())
def test_no_cell_but_an_amount_starts_like_a_formula_and_lines_end_with_a_bare_newline(
    record_type: type[Record], data: st.DataObject
) -> None:
    batch = data.draw(batches(record_type))
    encoder = CsvEncoder(record_type)

    text = (encoder.header_bytes() + encoder.encode(batch)).decode("utf-8")

    # QUOTE_MINIMAL: an unquoted cell never holds '"', so every other piece is outside quotes
    outside_quotes = text.split('"')[::2]
    assert not any("\r" in piece for piece in outside_quotes)
    assert sum(piece.count("\n") for piece in outside_quotes) == len(batch) + 1
    assert text.endswith("\n")
    amount_columns = _amount_columns(record_type)
    for row in read(text.encode("utf-8"))[1:]:
        assert not any(
            cell.startswith(FORMULA_STARTS) for i, cell in enumerate(row) if i not in amount_columns
        )


@given(texts)
def test_restore_undoes_neutralise(text: str) -> None:
    assert restore(neutralise(text)) == text


@given(texts)
def test_a_neutralised_text_never_starts_like_a_formula(text: str) -> None:
    assert not neutralise(text).startswith(FORMULA_STARTS)


# -- neutralisation ---------------------------------------------------------------------


@pytest.mark.parametrize("start", [*FORMULA_STARTS, "'"])
def test_a_text_starting_like_a_formula_or_with_a_quote_gets_one_leading_quote(start: str) -> None:
    assert neutralise(f"{start}SUM(A1)") == f"'{start}SUM(A1)"


@pytest.mark.parametrize("text", ["", "Agence Lyon", "a=b", "12-3", " =x", "\n=x"])
def test_other_texts_are_left_as_they_are(text: str) -> None:
    assert neutralise(text) == text


def test_restore_removes_exactly_one_leading_quote() -> None:
    assert restore("''tis") == "'tis"
    assert restore("'=1+1") == "=1+1"
    assert restore("plain") == "plain"


# -- cell formats -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "cell"),
    [
        (datetime(2026, 10, 31, 9, 15, tzinfo=UTC), "2026-10-31T09:15:00Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(0))), "2026-12-31T23:59:59Z"),
        (datetime(999, 1, 1, tzinfo=UTC), "0999-01-01T00:00:00Z"),
    ],
)
def test_a_date_is_iso_8601_utc_to_the_second_with_a_z(moment: datetime, cell: str) -> None:
    assert cells(event(updated_at=moment))[-1] == cell


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 10, 31, 9, 15),
        datetime(2026, 10, 31, 9, 15, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_a_naive_or_non_utc_date_is_refused(moment: datetime) -> None:
    with pytest.raises(ValueError, match="UTC"):
        cells(event(updated_at=moment))


@pytest.mark.parametrize(
    ("amount", "cell"),
    [
        (Decimal("12.50"), "12.50"),
        (Decimal("-12.50"), "-12.50"),
        (Decimal("0.00"), "0.00"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1.2E-7"), "0.00000012"),
        (Decimal("-0"), "-0"),
    ],
)
def test_an_amount_is_a_plain_decimal_and_a_negative_one_stays_a_number(
    amount: Decimal, cell: str
) -> None:
    assert cells(event(amount=amount))[9] == cell


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_an_amount_that_is_not_a_number_is_refused(amount: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        cells(event(amount=amount))


def test_texts_are_neutralised_and_enums_written_as_their_value() -> None:
    row = cells(event(customer_account="=HYPERLINK(1)", payment_method="'quoted"))
    assert row[4:6] == ["'=HYPERLINK(1)", "''quoted"]
    assert row[8] == "PAID"


def test_the_header_is_the_fields_in_camel_case() -> None:
    assert header(FundingTransfer) == [
        "transferId",
        "createdAt",
        "status",
        "amount",
        "currency",
        "sourceBalanceAccountType",
        "sourceBalanceAccountId",
        "targetBalanceAccountType",
        "targetBalanceAccountId",
        "supplierId",
        "relatedEntityType",
        "relatedEntityId",
        "failureReason",
    ]


# -- whole files ------------------------------------------------------------------------


def test_a_transaction_event_file_is_exactly_this() -> None:
    data = encoded(
        event(),
        event(
            event_id="evt_00000002",
            status=TransactionEventStatus.PARTIALLY_REFUNDED,
            amount=Decimal("-120.00"),
            customer_account='Usine "Nord"; hall 2',
            updated_at=datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC),
        ),
    )
    assert data == (
        b"eventId;transactionId;commercialOrderReference;supplierId;customerAccount;"
        b"paymentMethod;paymentNetwork;pspReference;status;amount;currency;updatedAt\n"
        b"evt_00000001;txn_0325d460663d;CO-2026-000001;supplier-sam;Agence Lyon;"
        b"Credit card;Visa;5022861365917247;PAID;19481.40;EUR;2026-10-31T09:15:00Z\n"
        b'evt_00000002;txn_0325d460663d;CO-2026-000001;supplier-sam;"Usine ""Nord""; hall 2";'
        b"Credit card;Visa;5022861365917247;PARTIALLY_REFUNDED;-120.00;EUR;2026-11-01T00:00:01Z\n"
    )


def test_a_supplier_payout_file_is_exactly_this() -> None:
    payout = SupplierPayout(
        payout_id="spo_43112377a86a",
        supplier_id="supplier-acme",
        supplier_name="Acme Industrie",
        status=SupplierPayoutStatus.FAILED,
        amount=Decimal("37458.59"),
        currency="EUR",
        order_count=73,
        period_start=datetime(2026, 8, 4, tzinfo=UTC),
        period_end=datetime(2026, 8, 11, tzinfo=UTC),
        computed_at=datetime(2026, 8, 11, 2, 43, 28, tzinfo=UTC),
        settled_at=None,
        failure_reason="-Rejected by the receiving bank (MS03)",
    )
    assert encoded(payout) == (
        b"payoutId;supplierId;supplierName;status;amount;currency;orderCount;periodStart;"
        b"periodEnd;computedAt;settledAt;failureReason\n"
        b"spo_43112377a86a;supplier-acme;Acme Industrie;FAILED;37458.59;EUR;73;"
        b"2026-08-04T00:00:00Z;2026-08-11T00:00:00Z;2026-08-11T02:43:28Z;;"
        b"'-Rejected by the receiving bank (MS03)\n"
    )


def test_a_funding_transfer_file_is_exactly_this() -> None:
    transfer = FundingTransfer(
        transfer_id="ft_00000005",
        created_at=datetime(2026, 8, 13, 1, 41, 7, tzinfo=UTC),
        status=FundingTransferStatus.FAILED,
        amount=Decimal("24673.78"),
        currency="EUR",
        source_balance_account_type=BalanceAccountType.MARKETPLACE,
        source_balance_account_id="BA-MKT-0001",
        target_balance_account_type=BalanceAccountType.SUPPLIER,
        target_balance_account_id="BA-SUP-0002",
        supplier_id="supplier-acme",
        related_entity_type=RelatedEntityType.PAYOUT,
        related_entity_id="spo_c6f40bf5c64a",
        failure_reason="Insufficient balance; retry at the next payout",
    )
    assert encoded(transfer) == (
        b"transferId;createdAt;status;amount;currency;sourceBalanceAccountType;"
        b"sourceBalanceAccountId;targetBalanceAccountType;targetBalanceAccountId;supplierId;"
        b"relatedEntityType;relatedEntityId;failureReason\n"
        b"ft_00000005;2026-08-13T01:41:07Z;FAILED;24673.78;EUR;MARKETPLACE;BA-MKT-0001;"
        b"SUPPLIER;BA-SUP-0002;supplier-acme;PAYOUT;spo_c6f40bf5c64a;"
        b'"Insufficient balance; retry at the next payout"\n'
    )


def test_a_marketplace_payout_file_is_exactly_this() -> None:
    payout = MarketplacePayout(
        payout_id="mpo_e712c203d885",
        status=MarketplacePayoutStatus.SETTLED,
        amount=Decimal("15600.96"),
        currency="EUR",
        order_count=352,
        period_start=datetime(2026, 8, 3, tzinfo=UTC),
        period_end=datetime(2026, 8, 10, tzinfo=UTC),
        computed_at=datetime(2026, 8, 10, 2, 9, 54, tzinfo=UTC),
        settled_at=datetime(2026, 8, 11, 17, 3, 45, tzinfo=UTC),
        failure_reason=None,
    )
    assert encoded(payout) == (
        b"payoutId;status;amount;currency;orderCount;periodStart;periodEnd;computedAt;"
        b"settledAt;failureReason\n"
        b"mpo_e712c203d885;SETTLED;15600.96;EUR;352;2026-08-03T00:00:00Z;"
        b"2026-08-10T00:00:00Z;2026-08-10T02:09:54Z;2026-08-11T17:03:45Z;\n"
    )


def test_a_carriage_return_inside_a_text_is_quoted_and_every_row_ends_with_a_newline() -> None:
    data = encoded(event(customer_account="Agence\rLyon"), event(customer_account="x\r"), event())
    assert b'"Agence\rLyon"' in data
    assert b'"x\r"' in data
    assert data.count(b"\r") == 2
    assert [row[4] for row in read(data)[1:]] == ["Agence\rLyon", "x\r", "Agence Lyon"]


def test_a_text_is_encoded_in_utf_8() -> None:
    assert "Entrepôt Lille €".encode() in encoded(event(customer_account="Entrepôt Lille €"))


def test_an_empty_batch_encodes_to_nothing() -> None:
    assert CsvEncoder(TransactionEvent).encode([]) == b""
