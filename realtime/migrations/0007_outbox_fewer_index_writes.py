"""Fewer index entries written per outbox row: a round emits about a dozen rows, each written to
every index of the table on INSERT and again when the relay marks it sent (a status change is
never a HOT update here). ``type`` loses its own two indexes (``outbox_type_time_idx`` leads with
it); the prune's (status, sent_at) index becomes a partial index of the sent rows, which a new
row does not enter, beside a partial index of the dead ones (``outbox_health`` counts them).
Built and dropped without blocking the emitters (``casino.migration_operations``)."""

from django.db import migrations, models

from casino.migration_operations import AddIndexOnline, RemoveIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("realtime", "0006_notification_settings"),
    ]

    operations = [
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(condition=models.Q(("status", "sent")), fields=["sent_at"], name="outbox_sent_idx"),
        ),
        AddIndexOnline(
            model_name="outboxevent",
            index=models.Index(condition=models.Q(("status", "dead")), fields=["id"], name="outbox_dead_idx"),
        ),
        RemoveIndexOnline(
            model_name="outboxevent",
            name="outbox_status_sent_idx",
        ),
        migrations.AlterField(
            model_name="outboxevent",
            name="type",
            field=models.CharField(max_length=64),
        ),
    ]
