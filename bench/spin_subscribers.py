"""What the live-ops subscribers cost a spin: statements and CPU per ``POST /api/games/slot/spin``
with nothing counting rounds, then with the demo missions and achievements active and the player
in a running event (every round then advances an event, missions and achievements).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/casino_spincost REDIS_URL=redis://127.0.0.1:6379/13 \\
        .venv/bin/python bench/spin_subscribers.py [--spins 300]

In-process through Django's test client with production-like settings (DEBUG off), against a
scratch database it migrates first (dropped and recreated: never point it at real data). Prints
the median statements, commits and CPU milliseconds per spin for both cases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spins", type=int, default=300)
    args = parser.parse_args()
    if "spincost" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("point DATABASE_URL at a scratch database whose name contains 'spincost'")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:  # a clean slate
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115 - discarded
    from events.models import Achievement, MissionTemplate

    active = (MissionTemplate.objects.count(), Achievement.objects.count())
    MissionTemplate.objects.update(is_active=False)
    Achievement.objects.update(is_active=False)
    quiet = measure(args.spins, "quiet")
    MissionTemplate.objects.update(is_active=True)
    Achievement.objects.update(is_active=True)
    busy = measure(args.spins, "busy", join_event=True)
    out = sys.stdout.write
    out(f"spins per case: {args.spins}; missions/achievements seeded: {active[0]}/{active[1]}\n")
    for name, rows in (("nothing counts rounds", quiet), ("missions, achievements and an event", busy)):
        out(
            f"{name:38} statements {statistics.median(r['statements'] for r in rows):>4.0f}  "
            f"commits {statistics.median(r['commits'] for r in rows):>2.0f}  "
            f"CPU {statistics.median(r['cpu_ms'] for r in rows):6.2f} ms (p90 "
            f"{statistics.quantiles([r['cpu_ms'] for r in rows], n=10)[-1]:.2f})\n"
        )


def measure(spins: int, tag: str, *, join_event: bool = False) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client

    from accounts.tests.factories import UserFactory
    from accounts.tokens import tokens_issue
    from casino.copies import copies_forget
    from economy.services import wallet_grant
    from events.models import Event
    from events.services import event_join

    copies_forget()
    player = UserFactory(site_id=f"spin{tag}", nickname=f"Spin {tag}")
    wallet_grant(user=player, bundle={"gold": 10**9}, reason="admin_adjust", idempotency_key=f"spin:{tag}")
    if join_event:
        for event in Event.objects.filter(is_active=True):
            event_join(user=player, event_id=event.pk)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    statements: list[str] = []
    commits = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    original_commit = connection.commit

    def counting_commit() -> None:
        commits[0] += 1
        original_commit()

    rows: list[dict[str, Any]] = []
    connection.commit = counting_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(count):
            for index in range(spins + 20):  # the first 20 warm the process up
                statements.clear()
                commits[0] = 0
                cpu = time.process_time()
                response = client.post(
                    "/api/games/slot/spin",
                    {"bet_amount": 100},
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
                )
                cpu_ms = (time.process_time() - cpu) * 1000
                assert response.status_code == 200, response.content
                if index >= 20:
                    rows.append({"statements": len(statements), "commits": commits[0], "cpu_ms": cpu_ms})
    finally:
        connection.commit = original_commit  # type: ignore[method-assign]
    return rows


if __name__ == "__main__":
    main()
