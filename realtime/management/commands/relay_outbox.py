"""``manage.py relay_outbox``: ship pending outbox rows to Kafka, continuously.

Starts and keeps running when the broker is down: it logs ``waiting for the
Kafka broker at ...`` with a doubling delay until the broker answers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casino.gc_tuning import gc_freeze_startup
from realtime import relay
from realtime.metrics import serve_metrics


class Command(BaseCommand):
    help = "Relay pending outbox events to Kafka (long-running; --once for a single pass)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run passes until nothing is due, then exit.")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows per pass (default OUTBOX_RELAY_BATCH_SIZE)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.KAFKA_BOOTSTRAP_SERVERS:
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set: nothing to relay to.")
        if options["once"]:
            producer = relay.make_producer()
            total = relay.RelayPass(0, 0, 0, 0)
            while True:
                result = relay.outbox_relay_pass(producer=producer, batch_size=options["batch_size"])
                total = relay.RelayPass(
                    *(a + b for a, b in zip(total.__dict__.values(), result.__dict__.values(), strict=True))
                )
                if result.claimed == 0 or result.sent == 0:
                    break
            self.stdout.write(f"relayed {total.sent} event(s); {total.failed} to retry; {total.dead} dead")
            return
        serve_metrics(self)
        self.stdout.write(
            f"relaying outbox -> {settings.KAFKA_BOOTSTRAP_SERVERS} topic {settings.KAFKA_TOPIC} (Ctrl-C stops; "
            "waits while the broker is down)"
        )
        gc_freeze_startup()  # start-up is over: full collections skip what it loaded (casino.gc_tuning)
        relay.outbox_relay_forever(batch_size=options["batch_size"])
