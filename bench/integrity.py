"""After the load: the ledger audit and the duplicate-grant counts (all must be 0).

The ledger's unique (wallet, idempotency key, currency) constraint makes a
duplicate *entry* impossible, so the checks also look one level up, where a
bug would show: an order fulfilled twice, a purchase granted twice, two
streak or VIP claims paid for one player-day, two effective webhooks for one
order, a fulfilled order without its grant.
"""

from __future__ import annotations

from typing import Any

CHECKS = {
    "ledger entries per (wallet, key, currency) > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry GROUP BY wallet_id, idempotency_key, currency HAVING count(*) > 1
        ) t""",
    "orders fulfilled more than once": """
        SELECT count(*) FROM (
            SELECT order_id FROM shop_ordertransition WHERE to_status = 'fulfilled'
            GROUP BY order_id HAVING count(*) > 1
        ) t""",
    "purchase grants per order > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry WHERE reason = 'purchase' AND delta > 0
            GROUP BY wallet_id, reference, currency HAVING count(*) > 1
        ) t""",
    "purchase payments per order > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry WHERE reason = 'purchase' AND delta < 0
            GROUP BY wallet_id, reference, currency HAVING count(*) > 1
        ) t""",
    "streak claims per player-day > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry WHERE reason = 'streak_daily' AND currency = 'gold'
            GROUP BY wallet_id, reference HAVING count(*) > 1
        ) t""",
    "streak days per player-day > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_streakday GROUP BY user_id, date HAVING count(*) > 1
        ) t""",
    "VIP claims per player-day > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry WHERE reason = 'vip_daily'
            GROUP BY wallet_id, reference HAVING count(*) > 1
        ) t""",
    "effective webhooks per order > 1": """
        SELECT count(*) FROM (
            SELECT order_id FROM shop_webhookevent
            WHERE status = 'processed' AND order_id IS NOT NULL AND event_type = 'payment.succeeded'
            GROUP BY order_id HAVING count(*) > 1
        ) t""",
    "game rounds per (player, idempotency key) > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM games_gameround GROUP BY user_id, idempotency_key HAVING count(*) > 1
        ) t""",
    "game rounds per (seed, nonce) > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM games_gameround GROUP BY seed_id, nonce HAVING count(*) > 1
        ) t""",
    "game bet or win postings per round > 1": """
        SELECT count(*) FROM (
            SELECT 1 FROM economy_ledgerentry WHERE reason IN ('game_bet', 'game_win')
            GROUP BY wallet_id, reference, reason, currency HAVING count(*) > 1
        ) t""",
    "settled rounds without their bet posting or with a payout not posted": """
        SELECT count(*) FROM games_gameround r
        WHERE r.status = 'settled' AND (
            NOT EXISTS (
                SELECT 1 FROM economy_ledgerentry e
                WHERE e.wallet_id = r.user_id AND e.idempotency_key = 'round:' || r.id || ':bet'
                  AND e.delta = -r.bet_amount
            )
            OR (r.payout > 0 AND NOT EXISTS (
                SELECT 1 FROM economy_ledgerentry e
                WHERE e.wallet_id = r.user_id AND e.idempotency_key = 'round:' || r.id || ':win'
                  AND e.delta = r.payout
            ))
        )""",
    # Progress is counted once per settled round (events.services.progress): a player's weekly
    # rounds-played mission, while below its target (it freezes once completed), holds exactly the
    # rounds they settled this week.
    "weekly rounds-played missions not equal to the player's settled rounds": """
        SELECT count(*) FROM events_missionprogress p
        JOIN events_missiontemplate t ON t.id = p.template_id AND t.code = 'weekly-play-100'
        WHERE p.completed_at IS NULL AND p.value <> (
            SELECT count(*) FROM games_gameround r
            WHERE r.user_id = p.user_id AND r.status = 'settled'
              AND r.settled_at >= p.period_start::timestamp AT TIME ZONE 'UTC'
        )""",
    "claimed missions without their reward posting": """
        SELECT count(*) FROM events_missionprogress p
        WHERE p.claimed_at IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM economy_ledgerentry e
            WHERE e.wallet_id = p.user_id
              AND e.idempotency_key = 'mission:' || p.user_id || ':' || p.template_id || ':' || p.period_start
        )""",
    "fulfilled orders without their grant": """
        SELECT count(*) FROM shop_order o
        WHERE o.status = 'fulfilled' AND o.grants <> '{}'::jsonb AND NOT EXISTS (
            SELECT 1 FROM economy_ledgerentry e
            WHERE e.wallet_id = o.user_id AND e.idempotency_key = 'order:' || o.receipt_code || ':grant'
        )""",
}

INFO = {
    "orders": "SELECT count(*) FROM shop_order",
    "gem orders fulfilled": "SELECT count(*) FROM shop_order WHERE price_type = 'gems' AND status = 'fulfilled'",
    "money orders fulfilled": "SELECT count(*) FROM shop_order WHERE price_type = 'money' AND status = 'fulfilled'",
    "money orders still pending (visits cut by the end of a stage)": (
        "SELECT count(*) FROM shop_order WHERE price_type = 'money' AND status IN ('pending', 'pending_review')"
    ),
    "webhook deliveries acknowledged as duplicates": "SELECT coalesce(sum(attempts - 1), 0) FROM shop_webhookevent",
    "game rounds": "SELECT count(*) FROM games_gameround",
    "slot spins paying anything": "SELECT count(*) FROM games_gameround WHERE game = 'slot' AND payout > 0",
    "mission rewards claimed": "SELECT count(*) FROM events_missionprogress WHERE claimed_at IS NOT NULL",
    "achievements unlocked": "SELECT count(*) FROM events_achievementprogress WHERE unlocked_at IS NOT NULL",
    "event participations completed": "SELECT count(*) FROM events_eventparticipation WHERE completed_at IS NOT NULL",
    "ledger entries": "SELECT count(*) FROM economy_ledgerentry",
    "outbox events": "SELECT count(*) FROM realtime_outboxevent",
    "outbox dead": "SELECT count(*) FROM realtime_outboxevent WHERE status = 'dead'",
}


def run_audit() -> tuple[int, str]:
    """``manage.py audit_ledger``, in this process: exit status 1 on a violation."""
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    try:
        call_command("audit_ledger", stdout=out, stderr=out)
    except CommandError as exc:
        return 1, f"{out.getvalue()}\n{exc}"
    return 0, out.getvalue()


def check() -> dict[str, Any]:
    from django.db import connection

    exit_code, output = run_audit()
    checks, info = {}, {}
    with connection.cursor() as cursor:
        for name, sql in CHECKS.items():
            cursor.execute(sql)
            checks[name] = int(cursor.fetchone()[0])
        for name, sql in INFO.items():
            cursor.execute(sql)
            info[name] = int(cursor.fetchone()[0])
    lines = [line for line in output.splitlines() if line.strip()]
    return {
        "audit_exit": exit_code,
        "audit_summary": lines[0] if lines else "(no output)",
        "audit_output": output[-4000:],
        "checks": checks,
        "info": info,
        "duplicate_grants": sum(checks.values()),
        "ok": exit_code == 0 and sum(checks.values()) == 0,
    }
