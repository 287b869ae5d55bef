"""The table of the shared throttle counts (``api.throttling.DatabaseStore``, ``THROTTLE_CACHE=db``): one row per
(subject, window), bumped by one upsert per request. A plain table rather than a model: only the throttle's
own SQL reads and writes it, and Django's database cache (several queries per request) was too slow for it."""

from django.db import migrations

TABLE = "api_throttle_count"


class Migration(migrations.Migration):
    dependencies = [("organizations", "0001_initial")]

    operations = [
        migrations.RunSQL(
            f"CREATE TABLE {TABLE} (subject varchar(255) NOT NULL PRIMARY KEY, hits bigint NOT NULL, "
            "expires_at bigint NOT NULL)",
            f"DROP TABLE {TABLE}",
        ),
        migrations.RunSQL(
            f"CREATE INDEX {TABLE}_expires_idx ON {TABLE} (expires_at)", f"DROP INDEX {TABLE}_expires_idx"
        ),
    ]
