"""Seeding a benchmark database: players, wallets, products, an invite code,
and the demo content (catalog, live operations) a running product has.

Runs inside ``bench/run.py`` after ``django.setup()`` with ``bench.settings``
(production's password hasher). Users are bulk-inserted with one precomputed hash;
wallets and balances go through ``economy.services`` (``wallet_open``,
``wallet_grant``), so every balance has its ledger entry and the ledger audit
holds from the first second. Each player took yesterday's streak reward (its ledger
entries under the claim's key, its streak row and day as ``streak_claim`` leaves them):
today's claim continues a streak, as most claims of a running game do, where a
first-ever claim also creates the streak row.

The demo content (:func:`seed_demo_content`): the shop's demo catalog (its packs and a
limited package on sale, beside the bench's two products) and the live events, daily and
weekly missions and achievements, the same ``make run`` seeds (the ``seed_*_demo``
commands), created through their services by a staff account of the bench's own.
Without the catalog, the catalog request read no limit of the player's. Without the
live operations a round, a purchase or a claim counts towards nothing and skips the
progress engine's statements, which no running product does; with them, every
seeded player has joined every running event (``event_join``), so a round
advances event requirements, mission instances and achievements in its
transaction, as it does for an engaged player.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

PLAYER_PASSWORD = "Bench-Player-Pass-7"  # noqa: S105 - throwaway bench accounts
INVITE_CODE = "BENCHRUN"
GEMS_SKU = "bench-gold-for-gems"
MONEY_SKU = "bench-gems-for-usd"
GEMS_PRICE = 10
MONEY_PRICE = 499  # cents: under every fraud "amount" rule
SEED_GOLD = 50_000
SEED_GEMS = 1_000_000  # enough for every gem purchase a run can make
SITE_ID_PREFIX = "bp"
SEED_THREADS = 4
STAFF_SITE_ID = "admin"  # the account the seed_*_demo commands create their rows as


@dataclass(frozen=True)
class SeedResult:
    players: list[dict[str, Any]]
    gems_product_id: int
    money_product_id: int
    seconds: float
    min_user_id: int
    max_user_id: int
    demo_content: list[str]


def player_ip(index: int) -> str:
    """A distinct private IPv4 per simulated player (the balancer's X-Forwarded-For)."""
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.0")) + 1 + index))


def seed_products() -> tuple[int, int]:
    """The invite code, the gem-priced gold pack and the money-priced gem pack; their ids."""
    from accounts.models import InviteCode
    from economy.enums import Currency
    from shop.models import PriceType, Product, ProductKind

    InviteCode.objects.get_or_create(code=INVITE_CODE, defaults={"max_uses": None, "note": "bench sign-ups"})
    gems_product, _ = Product.objects.update_or_create(
        sku=GEMS_SKU,
        defaults={
            "name": "Bench gold pack (gems)",
            "kind": ProductKind.GOLD_PACK,
            "price_type": PriceType.GEMS,
            "price_amount": GEMS_PRICE,
            "price_currency": "",
            "grants": {Currency.GOLD: 1_000},
            "is_active": True,
            "sort_order": 1,
        },
    )
    money_product, _ = Product.objects.update_or_create(
        sku=MONEY_SKU,
        defaults={
            "name": "Bench gem pack (USD)",
            "kind": ProductKind.GEM_PACK,
            "price_type": PriceType.MONEY,
            "price_amount": MONEY_PRICE,
            "price_currency": "USD",
            "grants": {Currency.GEMS: 500},
            "is_active": True,
            "sort_order": 2,
        },
    )
    return gems_product.pk, money_product.pk


def seed_players(count: int, *, prefix: str = SITE_ID_PREFIX, first_index: int = 0) -> list[dict[str, Any]]:
    """``count`` players (site ids ``<prefix>000000``...) with open wallets holding
    ``SEED_GOLD`` and ``SEED_GEMS``; ``first_index`` keeps their phone numbers,
    addresses and devices apart from another group's."""
    from django.contrib.auth.hashers import make_password
    from django.db import connections, transaction
    from django.utils import timezone

    from accounts.models import User
    from economy.enums import Currency, LedgerReason
    from economy.services import wallet_grant, wallet_open
    from economy.services.streak import streak_claim_key
    from economy.streaks import streak_reward, utc_today

    hashed = make_password(PLAYER_PASSWORD)
    # Existing players (joined a month ago), not brand-new accounts: the fraud
    # rules treat accounts younger than 24 h differently.
    joined = timezone.now() - timedelta(days=30)
    User.objects.bulk_create(
        [
            User(
                site_id=f"{prefix}{i:06d}",
                nickname=f"Bench Player {prefix}{i:06d}",
                phone_number=f"+1555{first_index + i:07d}",
                password=hashed,
                date_joined=joined,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    rows = list(User.objects.filter(site_id__startswith=prefix).order_by("id").values_list("id", "site_id"))
    running, event_join = _running_events()
    yesterday = utc_today() - timedelta(days=1)
    reward = streak_reward(1)

    def open_wallets(user_ids: list[int]) -> None:
        try:
            for user_id in user_ids:
                with transaction.atomic():
                    wallet_open(user=user_id)
                    wallet_grant(
                        user=user_id,
                        bundle={Currency.GOLD: SEED_GOLD, Currency.GEMS: SEED_GEMS},
                        reason=LedgerReason.ADMIN_ADJUST,
                        idempotency_key=f"bench-seed:{user_id}",
                        reference="bench:seed",
                    )
                    wallet_grant(  # yesterday's streak reward, as streak_claim posted it (its key and reason)
                        user=user_id,
                        bundle={Currency.GOLD: reward.gold, Currency.XP: reward.xp},
                        reason=LedgerReason.STREAK_DAILY,
                        idempotency_key=streak_claim_key(user_id, yesterday),
                        reference=f"streak:{yesterday.isoformat()}",
                        metadata={"streak_count": 1, "date": yesterday.isoformat()},
                    )
                user = User(pk=user_id)
                for event_id in running:  # an engaged player: in every running event (seed_demo_content)
                    event_join(user=user, event_id=event_id)
        finally:
            connections.close_all()  # this thread's connection

    ids = [user_id for user_id, _ in rows]
    # A few threads: each grant waits on PostgreSQL most of the time.
    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        list(pool.map(open_wallets, [ids[i::SEED_THREADS] for i in range(SEED_THREADS)]))
    _streaks_since_yesterday(ids, yesterday)
    return [
        {
            "id": user_id,
            "site_id": site_id,
            "ip": player_ip(first_index + index),
            "device": f"bench-device-{first_index + index:06d}",
        }
        for index, (user_id, site_id) in enumerate(rows)
    ]


def _streaks_since_yesterday(user_ids: list[int], yesterday: date) -> None:
    """Each player checked in and took the streak reward yesterday (its ledger entries are
    posted with the wallet, under the claim's key): the streak row and yesterday's day, as
    ``economy.services.streak_claim`` leaves them, so ``streak_repair`` finds them in
    agreement with the ledger."""
    from django.utils import timezone

    from economy.models import DailyStreak, StreakDay

    claimed = timezone.now() - timedelta(days=1)
    DailyStreak.objects.bulk_create(
        [
            DailyStreak(
                user_id=user_id, current_count=1, longest_count=1, last_checkin_date=yesterday, updated_at=claimed
            )
            for user_id in user_ids
        ],
        batch_size=1000,
    )
    StreakDay.objects.bulk_create(
        [
            StreakDay(user_id=user_id, date=yesterday, streak_count=1, claimed_at=claimed, created_at=claimed)
            for user_id in user_ids
        ],
        batch_size=1000,
    )


def seed_demo_content() -> list[str]:
    """The demo's live events, missions, achievements and shop catalog (module docstring), created
    by the ``seed_*_demo`` commands as a staff account without a usable password; a summary line each."""
    import io

    from django.core.management import CommandError, call_command

    from accounts.models import User

    if not User.objects.filter(site_id__iexact=STAFF_SITE_ID, is_superuser=True).exists():
        User.objects.create_superuser(STAFF_SITE_ID, "Bench Staff", "+14440000001", None)
    lines = []
    for command in ("seed_events_demo", "seed_missions_demo", "seed_achievements_demo", "seed_shop_demo"):
        out = io.StringIO()
        try:
            call_command(command, stdout=out)
        except CommandError as error:  # an older checkout (--against) without this part
            lines.append(f"{command}: {error}")
            continue
        lines.append(out.getvalue().strip())
    return lines


def _running_events() -> tuple[list[int], Callable[..., Any]]:
    """The ids of the events running now and the service that joins one (none in a checkout without
    live events: ``bench/run.py --against`` seeds an older version with this module)."""
    from django.utils import timezone

    try:
        from events.models import Event
        from events.services import event_join
    except ImportError:
        return [], lambda **_: None
    now = timezone.now()
    running = Event.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
    return list(running.values_list("id", flat=True)), event_join


def demo_content_note(lines: list[str]) -> str:
    """The report's note on the live operations the run's players count towards and the catalog they see."""
    return (
        "Live operations and the shop's catalog as `make run` seeds them (bench/seed.py, `seed_demo_content`), "
        "every seeded player in every running event, so rounds, purchases and claims advance events, missions "
        "and achievements, and the catalog shows a limited package (its stock and the player's limit read): "
        + "; ".join(line.rstrip(".") for line in lines)
        + "."
    )


def seed(players: int) -> SeedResult:
    """The products, the live operations and ``players`` players for the load (site ids ``bp...``)."""
    started = time.monotonic()
    gems_product_id, money_product_id = seed_products()
    demo_content = seed_demo_content()
    seeded = seed_players(players)
    return SeedResult(
        players=seeded,
        gems_product_id=gems_product_id,
        money_product_id=money_product_id,
        seconds=time.monotonic() - started,
        min_user_id=seeded[0]["id"],
        max_user_id=seeded[-1]["id"],
        demo_content=demo_content,
    )
