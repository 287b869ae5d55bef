"""manage.py import_revenue and distributors.units: exact decimals, all or nothing, safe re-imports."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from distributors.models import RevenueEntry
from distributors.units import normalize_units, to_major, to_minor, units_decimal_places
from tests.factories import RevenueEntryFactory

HEADER = "amount,units,occurredAt,reference\n"


@pytest.fixture
def csv_file(tmp_path):
    def write(body: str, header: str = HEADER, name: str = "revenue.csv"):
        path = tmp_path / name
        path.write_text(header + body, encoding="utf-8")
        return str(path)

    return write


def run(path, slug="acme"):
    out = StringIO()
    call_command("import_revenue", path, "--organization", slug, stdout=out)
    return out.getvalue().strip()


@pytest.mark.parametrize(
    ("units", "places"),
    [
        *[("USD", 2), ("usd", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("JOD", 3)],
        *[("OMR", 3), ("TND", 3), ("points", 0), ("Points", 0), ("XYZ", 2), ("credits", 2)],
    ],
)
def test_units_decimal_places(units, places):
    assert units_decimal_places(units) == places


@pytest.mark.parametrize(
    ("text", "units", "minor"),
    [
        ("12.34", "USD", 1234),
        ("12.3", "USD", 1230),
        ("12", "USD", 1200),
        ("12.340", "USD", 1234),
        ("0.01", "USD", 1),
        ("-0.05", "USD", -5),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("42", "points", 42),
        (" 7.50 ", "EUR", 750),
    ],
)
def test_to_minor_is_exact(text, units, minor):
    assert to_minor(text, units) == minor


@pytest.mark.parametrize(
    ("text", "units"),
    [
        *[("12.345", "USD"), ("1.5", "JPY"), ("1.2345", "KWD"), ("0.5", "points"), ("1e3", "USD")],
        *[("1,000.00", "USD"), ("NaN", "USD"), ("Infinity", "USD"), ("", "USD"), ("12.", "USD")],
        *[("١٢", "USD"), ("$12", "USD")],
    ],
)
def test_to_minor_refuses_rather_than_rounds(text, units):
    with pytest.raises(ValueError):
        to_minor(text, units)


@pytest.mark.parametrize(
    ("minor", "units", "text"),
    [
        *[(1234, "USD", "12.34"), (5, "USD", "0.05"), (-5, "USD", "-0.05"), (0, "USD", "0.00")],
        *[(1500, "JPY", "1500"), (1234, "KWD", "1.234"), (42, "points", "42")],
    ],
)
def test_to_major_round_trips(minor, units, text):
    assert to_major(minor, units) == text
    assert to_minor(text, units) == minor


def test_normalize_units():
    assert [normalize_units(u) for u in ["usd", " EUR ", "POINTS", "credits"]] == ["USD", "EUR", "points", "credits"]
    for bad in ["", "US D", "€", "x" * 17]:
        with pytest.raises(ValueError):
            normalize_units(bad)


def test_imports_rows_as_integers_in_the_smallest_unit(org, csv_file):
    path = csv_file(
        "12.34,USD,2026-03-01T10:00:00Z,order-1\n"
        "1500,jpy,2026-03-01T11:00:00+09:00,order-2\n"
        "\n"
        '"1.5",KWD,2026-03-02T00:00:00+00:00,"order,3"\n'
    )
    out = run(path)
    assert out == f"Imported 3 revenue entries into 'acme' from {path}; 0 already present, skipped."
    rows = {e.reference: (e.amount, e.units, e.occurred_at) for e in RevenueEntry.objects.filter(organization=org)}
    assert rows == {
        "order-1": (1234, "USD", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        "order-2": (1500, "JPY", datetime(2026, 3, 1, 2, tzinfo=UTC)),
        "order,3": (1500, "KWD", datetime(2026, 3, 2, tzinfo=UTC)),
    }


def test_reimporting_a_file_adds_nothing(org, csv_file):
    path = csv_file("12.34,USD,2026-03-01T10:00:00Z,order-1\n5,USD,2026-03-01T11:00:00Z,order-2\n")
    run(path)
    # Same values written differently (trailing zero, other offset, lower-case units) are the same entry.
    again = csv_file(
        "12.340,usd,2026-03-01T11:00:00+01:00,order-1\n5.00,USD,2026-03-01T11:00:00Z,order-2\n"
        "1,USD,2026-03-03T00:00:00Z,order-3\n",
        name="again.csv",
    )
    assert run(again) == f"Imported 1 revenue entry into 'acme' from {again}; 2 already present, skipped."
    assert run(again) == f"Imported 0 revenue entries into 'acme' from {again}; 3 already present, skipped."
    assert RevenueEntry.objects.count() == 3


def test_the_same_reference_in_another_organization_is_another_entry(org, other_org, csv_file):
    RevenueEntryFactory(organization=other_org, reference="order-1", amount=1)
    run(csv_file("12.34,USD,2026-03-01T10:00:00Z,order-1\n"))
    assert RevenueEntry.objects.filter(reference="order-1").count() == 2


def test_a_stored_reference_with_other_values_is_an_error_and_imports_nothing(org, csv_file):
    RevenueEntryFactory(
        organization=org, reference="order-1", amount=1234, units="USD", occurred_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    path = csv_file("1,USD,2026-03-02T00:00:00Z,order-0\n12.50,USD,2026-03-01T00:00:00Z,order-1\n")
    with pytest.raises(CommandError) as error:
        run(path)
    assert str(error.value) == (
        f"{path}: nothing imported; line 3, column amount: reference 'order-1' was imported before with "
        "amount 12.34; this row says 12.50."
    )
    assert RevenueEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("12.345,USD,2026-03-01T10:00:00Z,r2\n", "line 3, column amount: '12.345' has more decimal places than USD"),
        ("-1.00,USD,2026-03-01T10:00:00Z,r2\n", "line 3, column amount: '-1.00' is negative"),
        ("abc,USD,2026-03-01T10:00:00Z,r2\n", "line 3, column amount: 'abc' is not a decimal number"),
        ("1,U S D,2026-03-01T10:00:00Z,r2\n", "line 3, column units:"),
        ("1,USD,2026-03-01T10:00:00,r2\n", "line 3, column occurredAt: '2026-03-01T10:00:00' has no UTC offset"),
        ("1,USD,01/03/2026,r2\n", "line 3, column occurredAt: '01/03/2026' is not an ISO 8601 date-time"),
        ("1,USD,2026-03-01T10:00:00Z,\n", "line 3, column reference: the reference is empty."),
        ("1,USD,2026-03-01T10:00:00Z\n", "line 3: 3 fields where the header has 4."),
        ("2,USD,2026-03-01T10:00:00Z,r1\n", "line 3, column amount: reference 'r1' is also on line 2"),
        ("1,USD,bad,r2\n1,USD,bad,r3\n2.222,USD,2026-03-01T10:00:00Z,r4\n", "line 3, column occurredAt"),
    ],
)
def test_a_file_with_a_bad_row_imports_nothing_and_names_the_line_and_column(org, csv_file, body, expected):
    path = csv_file("1,USD,2026-03-01T10:00:00Z,r1\n" + body)
    with pytest.raises(CommandError) as error:
        run(path)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)
    assert not RevenueEntry.objects.exists()


def test_several_errors_report_the_first_and_count_the_rest(org, csv_file):
    path = csv_file("x,USD,2026-03-01T10:00:00Z,r1\ny,USD,2026-03-01T10:00:00Z,r2\n1,USD,nope,r3\n")
    with pytest.raises(CommandError, match=r"line 2, column amount: .* \(and 2 more errors\)$"):
        run(path)


def test_a_repeated_identical_row_within_a_file_is_imported_once(org, csv_file):
    out = run(csv_file("1,USD,2026-03-01T10:00:00Z,r1\n1.00,USD,2026-03-01T10:00:00Z,r1\n"))
    assert out.endswith("1 already present, skipped.")
    assert RevenueEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "line 1: the file is empty"),
        ("amount,units,occurred_at,reference\n", "line 1: the header lacks occurredAt"),
        ("amount,units,occurredAt,reference,amount\n", "line 1: the header repeats amount."),
    ],
)
def test_header_problems(org, csv_file, header, expected):
    with pytest.raises(CommandError, match=expected):
        run(csv_file("", header=header))


def test_extra_columns_and_a_bom_are_accepted(org, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("\ufeffreference,amount,units,occurredAt,customer\nr1,9.99,USD,2026-03-01T10:00:00Z,bob\n")
    run(str(path))
    assert RevenueEntry.objects.get().amount == 999


def test_an_empty_file_with_a_header_imports_nothing(org, csv_file):
    assert run(csv_file("")).startswith("Imported 0 revenue entries")


def test_unknown_organization_and_missing_file_are_readable_errors(org, csv_file, tmp_path):
    with pytest.raises(CommandError, match=r"^--organization: no organization 'nope' \(give its slug or id\)\.$"):
        run(csv_file(""), slug="nope")
    with pytest.raises(CommandError, match=r"^Cannot read .*missing\.csv: No such file or directory\.$"):
        run(str(tmp_path / "missing.csv"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00amount")
    with pytest.raises(CommandError, match="is not UTF-8 text"):
        run(str(binary))
