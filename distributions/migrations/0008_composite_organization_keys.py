"""PostgreSQL: the organization of an obligation and of an allocation is guaranteed by composite foreign keys
instead of separate ones, so each row the trigger writes costs fewer deferred checks and the organization must
match (a plain key to the organization only said it existed).

- ``obligation (collaborator_id, organization_id) → collaborator (id, organization_id)`` replaces the
  obligation's keys to its collaborator and to its organization.
- ``allocation (distribution_id, organization_id) → distribution (id, organization_id)`` replaces the
  allocation's keys to its distribution and to its organization.

Both are ``DEFERRABLE INITIALLY DEFERRED`` like Django's own. The targets get ``UNIQUE (id, organization_id)``.
Django's model state is unchanged (its fields still say ``ForeignKey``, and Django cascades deletes itself), so
SQLite keeps the plain keys: there the organization match is the services' guarantee, as before.
"""

from django.db import migrations

COMPOSITES = (
    # (constraint name, table, columns, target table, plain keys replaced)
    (
        "obligation_collaborator_same_org_fk",
        "obligations_obligation",
        ("collaborator_id", "organization_id"),
        "collaborators_collaborator",
        ("collaborator_id", "organization_id"),
    ),
    (
        "allocation_distribution_same_org_fk",
        "distributions_allocation",
        ("distribution_id", "organization_id"),
        "distributions_distribution",
        ("distribution_id", "organization_id"),
    ),
)
TARGET_KEYS = {
    "collaborators_collaborator": "collaborator_id_organization_key",
    "distributions_distribution": "distribution_id_organization_key",
}
PLAIN_TARGETS = {
    "collaborator_id": "collaborators_collaborator",
    "organization_id": "organizations_organization",
    "distribution_id": "distributions_distribution",
}

# Filled with the constants above (never user input); a DO block cannot take bound parameters.
DROP_SINGLE_COLUMN_FKS = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT c.conname FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.conrelid = '{table}'::regclass AND c.contype = 'f' AND cardinality(c.conkey) = 1
          AND a.attname = '{column}'
    LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', '{table}', r.conname);
    END LOOP;
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for table, name in TARGET_KEYS.items():
        schema_editor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} UNIQUE (id, organization_id)")
    for name, table, columns, target, replaced in COMPOSITES:
        for column in replaced:
            schema_editor.execute(DROP_SINGLE_COLUMN_FKS.replace("{table}", table).replace("{column}", column), None)
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} FOREIGN KEY ({', '.join(columns)}) "
            f"REFERENCES {quote(target)} (id, organization_id) DEFERRABLE INITIALLY DEFERRED"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name, table, _, _, replaced in COMPOSITES:
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for column in replaced:
            schema_editor.execute(
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(f'{table}_{column}_fk')} FOREIGN KEY ({column}) "
                f"REFERENCES {quote(PLAIN_TARGETS[column])} (id) DEFERRABLE INITIALLY DEFERRED"
            )
    for table, name in TARGET_KEYS.items():
        schema_editor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("distributions", "0007_backfill_distributor_open_until"),
        ("obligations", "0002_drop_redundant_indexes"),
        ("collaborators", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
