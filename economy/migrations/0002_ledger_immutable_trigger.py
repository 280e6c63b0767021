"""Ledger rows are immutable in the database too: a trigger refuses UPDATE and
DELETE (TRUNCATE, used only by test teardown, is not a row operation)."""

from django.db import migrations

POSTGRES_CREATE = """
CREATE OR REPLACE FUNCTION economy_ledger_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are immutable (% refused)', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER economy_ledger_immutable
    BEFORE UPDATE OR DELETE ON economy_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION economy_ledger_immutable();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS economy_ledger_immutable ON economy_ledgerentry;
DROP FUNCTION IF EXISTS economy_ledger_immutable();
"""
SQLITE_CREATE = [
    "CREATE TRIGGER economy_ledger_no_update BEFORE UPDATE ON economy_ledgerentry "
    "BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable (UPDATE refused)'); END;",
    "CREATE TRIGGER economy_ledger_no_delete BEFORE DELETE ON economy_ledgerentry "
    "BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable (DELETE refused)'); END;",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS economy_ledger_no_update;", "DROP TRIGGER IF EXISTS economy_ledger_no_delete;"]


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_CREATE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("economy", "0001_initial")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
