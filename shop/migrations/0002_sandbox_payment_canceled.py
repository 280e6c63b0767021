# The sandbox provider can cancel an unpaid payment (an expired order's).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sandboxpayment",
            name="status",
            field=models.CharField(
                choices=[
                    ("created", "Created (waiting for the payer)"),
                    ("approved", "Approved"),
                    ("declined", "Declined"),
                    ("refunded", "Refunded"),
                    ("canceled", "Canceled (the order expired)"),
                ],
                default="created",
                max_length=16,
            ),
        ),
    ]
