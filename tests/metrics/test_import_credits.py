"""manage.py import_credits: CSV/NDJSON through the batch service, chunked, one readable line on failure."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

import metrics.batch
from distributors.selectors import HoldTimeout
from events.models import Event
from metrics.models import CreditRequest, MetricCredit
from tests.factories import CollaboratorAliasFactory, CollaboratorFactory, DistributorFactory

pytestmark = pytest.mark.django_db


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_credits", str(path), "--organization", "acme", *args, stdout=out, stderr=err)
    return out.getvalue()


@pytest.fixture
def sales(org):
    return DistributorFactory(organization=org, metric_types={"manual": 1, "sale": 3})


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_imports_csv_rows_as_credits_with_one_event_each(tmp_path, org, sales, ada, alan):
    CollaboratorAliasFactory(collaborator=alan, type="tracking", code="AL")
    path = write(
        tmp_path,
        "credits.csv",
        f"collaboratorId,metricType,quantity,key\n{ada.pk},sale,2,r1\n\ntracking:AL,,,r2\n{ada.pk},sale,1,\n",
    )
    out = run(path)
    assert (
        out.strip()
        == f"Imported {path} into 'acme': 3 credits written, 0 already credited (key used before), in 1 chunk."
    )
    rows = list(MetricCredit.objects.order_by("pk").values_list("collaborator_id", "metric_type", "points"))
    assert rows == [(ada.pk, "sale", 6), (alan.pk, "manual", 1), (ada.pk, "sale", 3)]
    assert set(CreditRequest.objects.values_list("source", flat=True)) == {"command"}
    assert Event.objects.filter(type="metrics.credited").count() == 3


def test_ndjson_back_dates_and_a_rerun_with_keys_credits_nothing_twice(tmp_path, org, sales, ada):
    lines = [
        {"collaboratorId": ada.pk, "metricType": "sale", "key": "n1", "creditedAt": "2026-03-01T10:00:00+01:00"},
        {"collaboratorId": str(ada.pk), "quantity": 4, "key": "n2"},
    ]
    path = write(tmp_path, "credits.ndjson", "\n".join(json.dumps(line) for line in lines) + "\n")
    run(path)
    assert MetricCredit.objects.get(metric_type="sale").credited_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    out = run(path)
    assert "0 credits written, 2 already credited" in out
    assert MetricCredit.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("collaboratorId,quantity\n{ada},1\n{ada},0\n", "line 3, quantity"),
        ("collaboratorId,quantity\n{ada},1\nnot-a-ref,1\n", "line 3, collaboratorId"),
        ("collaboratorId,quantitty\n{ada},1\n", "line 1, quantitty"),
        ("collaboratorId,metricType\n{ada},not a slug\n", "line 2, metricType"),
        ("collaboratorId,creditedAt\n{ada},2026-03-01T10:00:00\n", "line 2, creditedAt"),
        ("collaboratorId,creditedAt\n{ada},2999-01-01T00:00:00Z\n", "line 2, creditedAt"),
        ("collaboratorId,quantity\n{ada},1,9\n", "line 2: 3 cells"),
        ("quantity\n1\n", "line 1: the header lacks collaboratorId"),
    ],
)
def test_a_malformed_line_is_one_line_naming_it_and_nothing_is_written(tmp_path, org, sales, ada, text, where):
    path = write(tmp_path, "credits.csv", text.format(ada=ada.pk))
    with pytest.raises(CommandError) as error:
        run(path)
    message = str(error.value)
    assert "\n" not in message and where in message and "nothing imported" in message
    assert not MetricCredit.objects.exists()


def test_a_refused_chunk_writes_nothing_and_says_what_stays(tmp_path, org, sales, ada):
    inactive = CollaboratorFactory(organization=org, status="inactive")
    rows = [ada.pk] * 4 + [inactive.pk] + [ada.pk]
    path = write(tmp_path, "credits.csv", "collaboratorId\n" + "".join(f"{pk}\n" for pk in rows))
    with pytest.raises(CommandError) as error:
        run(path, "--chunk-size", "2")
    message = str(error.value)
    assert "lines 6-7: nothing written for these lines; lines before 6 (4 credits) stay written" in message
    assert "line 6, collaboratorId:" in message and "only active collaborators earn" in message
    assert MetricCredit.objects.count() == 4


def test_dry_run_checks_the_rules_and_writes_nothing(tmp_path, org, sales, ada):
    path = write(tmp_path, "credits.csv", f"collaboratorId,metricType\n{ada.pk},sale\n{ada.pk},manual\n")
    assert run(path, "--dry-run").startswith("Dry run: the 2 credits of")
    assert not MetricCredit.objects.exists() and not Event.objects.exists()
    bad = write(tmp_path, "bad.csv", f"collaboratorId,metricType\n{ada.pk},sale\n{ada.pk},refund\n")
    with pytest.raises(CommandError, match="line 3, metricType: Metric type 'refund' is not counted"):
        run(bad, "--dry-run")


def test_unknown_collaborator_and_reused_key_name_the_lines(tmp_path, org, sales, ada):
    path = write(tmp_path, "credits.csv", f"collaboratorId,key\n{ada.pk},k\n987654,\n")
    with pytest.raises(CommandError, match=r"collaboratorId: no such collaborator in 'acme' on line\(s\) 3\."):
        run(path)
    run(write(tmp_path, "one.csv", f"collaboratorId,key\n{ada.pk},k\n"))
    with pytest.raises(CommandError, match=r"key: already used for a different credit on line\(s\) 2\."):
        run(write(tmp_path, "other.csv", f"collaboratorId,quantity,key\n{ada.pk},5,k\n"))


def test_a_hold_timeout_is_one_line_and_nothing_is_written(tmp_path, org, sales, ada, monkeypatch):
    def held(**kwargs):
        raise HoldTimeout("being triggered")

    monkeypatch.setattr(metrics.batch, "distributors_hold_for_credit", held)
    path = write(tmp_path, "credits.csv", f"collaboratorId\n{ada.pk}\n")
    with pytest.raises(CommandError) as error:
        run(path)
    assert "being triggered; run the import again shortly" in str(error.value) and "\n" not in str(error.value)
    assert not MetricCredit.objects.exists()


def test_bad_options_are_one_line(tmp_path, org, sales, ada):
    with pytest.raises(CommandError, match="--chunk-size"):
        run(write(tmp_path, "a.csv", f"collaboratorId\n{ada.pk}\n"), "--chunk-size", "1001")
    with pytest.raises(CommandError, match="give --format"):
        run(write(tmp_path, "a.txt", f"collaboratorId\n{ada.pk}\n"))
    with pytest.raises(CommandError, match="Cannot read"):
        run(tmp_path / "missing.csv")
    with pytest.raises(CommandError, match="no credits in the file"):
        run(write(tmp_path, "empty.csv", "collaboratorId\n"))
