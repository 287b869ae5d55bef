from django.db import migrations


def backfill(apps, schema_editor):
    """Set each distributor's ``open_until`` from its pending distribution (none pending: left empty, so its
    credits hold it against a trigger, which is always safe)."""
    Distribution = apps.get_model("distributions", "Distribution")
    Distributor = apps.get_model("distributors", "Distributor")
    pending = Distribution.objects.filter(status="pending").values_list("distributor_id", "trigger_date")
    for distributor_id, trigger_date in pending.iterator(chunk_size=2000):
        Distributor.objects.filter(pk=distributor_id).update(open_until=trigger_date)


class Migration(migrations.Migration):
    dependencies = [
        ("distributions", "0006_engine_run_abandoned"),
        ("distributors", "0003_open_until"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
