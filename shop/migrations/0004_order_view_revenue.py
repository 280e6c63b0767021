"""``shop.view_revenue``: revenue, conversion and ARPPU on the staff dashboard
(``casino.dashboard``). Support sees orders to help players; the business's
takings are finance's (the role table grants it: ``accounts.services.staff``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("shop", "0003_staff_permissions"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="order",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("settle_order", "Can settle an order with the payment provider"),
                    ("refund_order", "Can refund an order"),
                    ("review_order", "Can approve or reject an order held for fraud review"),
                    ("view_revenue", "Can see revenue, conversion and ARPPU on the staff dashboard"),
                ],
            },
        ),
    ]
