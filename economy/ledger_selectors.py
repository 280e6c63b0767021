"""The player's ledger read as history: the entries (``GET /api/wallet/ledger``, the
admin's wallet page) and the actions they make (``GET /api/actions/recent/{id}``, the
socket's ``recent_rewards``). Reads only, over one player's ledger at a time."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from casino.db import column_name
from economy.enums import Currency, LedgerReason
from economy.models import LedgerEntry


def ledger_for(
    user_id: int,
    *,
    currency: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(wallet_id=user_id).order_by("-created_at", "-id")
    if currency:
        entries = entries.filter(currency=currency)
    if reason:
        entries = entries.filter(reason=reason)
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries


# --- Recent actions -----------------------------------------------------------------
# ``GET /api/actions/recent/{id}`` and the socket's ``recent_rewards``: the ledger
# read as the player's actions. One posting (one ``wallet_*`` call: the entries
# sharing reason, reference and moment) is one action, so a purchase paid in
# gold and granting gems is one row. Debt repayments are bookkeeping of a grant,
# not an action of the player, and are left out. A game round is one action too:
# its bet and its payout (``game_bet`` / ``game_win`` with reference ``round:{id}``,
# posted together, or the payout later for a live round) are read as one row,
# dated by the bet, typed by its net effect: GAME_WIN (paid more than the bet),
# GAME_DRAW (the bet back) or GAME_BET (less, or not settled yet).
ACTION_TYPES: dict[str, str] = {
    LedgerReason.SIGNUP_BONUS.value: "SIGNUP_BONUS",
    LedgerReason.STREAK_DAILY.value: "DAILY_LOGIN",
    LedgerReason.VIP_DAILY.value: "VIP_CLAIM",
    LedgerReason.PURCHASE.value: "PURCHASE",
    LedgerReason.PURCHASE_REFUND.value: "PURCHASE_REFUND",
    LedgerReason.GAME_BET.value: "GAME_BET",
    LedgerReason.GAME_WIN.value: "GAME_WIN",
    LedgerReason.EVENT_REWARD.value: "EVENT_REWARD",
    LedgerReason.MISSION_REWARD.value: "MISSION_REWARD",
    LedgerReason.ACHIEVEMENT.value: "ACHIEVEMENT",
    LedgerReason.ADMIN_ADJUST.value: "ADMIN_ADJUSTMENT",
}
REWARD_REASONS: tuple[str, ...] = (
    LedgerReason.SIGNUP_BONUS.value,
    LedgerReason.STREAK_DAILY.value,
    LedgerReason.VIP_DAILY.value,
    LedgerReason.EVENT_REWARD.value,
    LedgerReason.MISSION_REWARD.value,
    LedgerReason.ACHIEVEMENT.value,
)
RECENT_ACTIONS_MAX = 100
GAME_ROUND_REASONS: tuple[str, ...] = (LedgerReason.GAME_BET.value, LedgerReason.GAME_WIN.value)
_GAME_ROUND_ACTION = "game_round"
# ``amount`` is the change of the first of these currencies the action moved.
_AMOUNT_ORDER: tuple[str, ...] = (
    Currency.GOLD.value,
    Currency.GEMS.value,
    Currency.VIP_POINTS.value,
    Currency.XP.value,
)


def recent_actions(*, user_id: int, limit: int = 20, reasons: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The player's latest actions, newest first, at most ``limit`` (capped at
    :data:`RECENT_ACTIONS_MAX`): ``id`` (the action's first ledger entry),
    ``action_type`` (:data:`ACTION_TYPES`), ``game_type`` (the game of a round,
    else None), ``amount`` (signed change of the main currency: gold, else gems,
    VIP points, XP), ``amounts`` (every currency moved), ``currency``,
    ``reference`` and ``created_at``. One query, over ``user_id``'s ledger only."""
    limit = max(1, min(limit, RECENT_ACTIONS_MAX))
    wanted = reasons if reasons is not None else tuple(ACTION_TYPES)
    rows = _recent_action_rows(user_id=user_id, reasons=wanted, limit=limit)
    actions: list[dict[str, Any]] = []
    for row in rows:
        amounts = {currency: int(row[currency]) for currency in _AMOUNT_ORDER if row[f"{currency}_entries"]}
        main = next((currency for currency in _AMOUNT_ORDER if currency in amounts), Currency.GOLD.value)
        if row["action"] == _GAME_ROUND_ACTION:
            net = amounts.get(main, 0)
            action_type = "GAME_WIN" if net > 0 else "GAME_DRAW" if net == 0 else "GAME_BET"
        else:
            action_type = ACTION_TYPES.get(row["action"], str(row["action"]).upper())
        actions.append(
            {
                "id": row["first_id"],
                "action_type": action_type,
                "game_type": row["game_type"] or None,
                "amount": amounts.get(main, 0),
                "currency": main,
                "amounts": amounts,
                "reference": row["reference"],
                "created_at": row["started_at"],
            }
        )
    return actions


def _recent_action_rows(*, user_id: int, reasons: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    """The grouped ledger rows behind :func:`recent_actions`, newest first: a game
    round's postings grouped by its reference alone (its payout may come later),
    any other action's by (reason, reference, time). Written out (the initial
    state of every socket runs it; compiled, it was half that state's cost), in
    SQL both PostgreSQL and SQLite run; ``started_at`` through the field's converters."""
    column = partial(column_name, LedgerEntry)
    created = LedgerEntry._meta.get_field("created_at").get_col(LedgerEntry._meta.db_table)
    converters = connection.ops.get_db_converters(created) + created.get_db_converters(connection)
    if connection.vendor == "postgresql":
        game = f"{column('metadata')} ->> 'game'"
    else:
        game = f"json_extract({column('metadata')}, '$.game')"
    is_round = (
        f"{column('reason')} IN ({', '.join(['%s'] * len(GAME_ROUND_REASONS))})"
        f" AND substr({column('reference')}, 1, 6) = 'round:'"
    )
    sums = ", ".join(
        "SUM(CASE WHEN currency = %s THEN delta ELSE 0 END), COUNT(CASE WHEN currency = %s THEN 1 END)"
        for _ in _AMOUNT_ORDER
    )
    sql = (  # names from the model, values as parameters
        f"SELECT action, reference, MIN(created_at), MIN(id), MAX(game), {sums} FROM ("  # noqa: S608
        f"SELECT {column('id')} AS id, {column('reference')} AS reference, {column('created_at')} AS created_at,"
        f" {column('currency')} AS currency, {column('delta')} AS delta, {game} AS game,"
        f" CASE WHEN {is_round} THEN %s ELSE {column('reason')} END AS action,"
        f" CASE WHEN {is_round} THEN NULL ELSE {column('created_at')} END AS moment"
        f" FROM {LedgerEntry._meta.db_table}"
        f" WHERE {column('wallet')} = %s AND {column('reason')} IN ({', '.join(['%s'] * len(reasons))})"
        f") actions GROUP BY action, reference, moment ORDER BY MIN(created_at) DESC, MIN(id) DESC LIMIT %s"
    )
    params: list[Any] = [currency for currency in _AMOUNT_ORDER for _ in (1, 2)]
    params += [*GAME_ROUND_REASONS, _GAME_ROUND_ACTION, *GAME_ROUND_REASONS, user_id, *reasons, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = []
    for action, reference, started_at, first_id, game_type, *amounts in found:
        for converter in converters:
            started_at = converter(started_at, created, connection)
        row: dict[str, Any] = {
            "action": action,
            "reference": reference,
            "started_at": started_at,
            "first_id": first_id,
            "game_type": game_type,
        }
        for index, currency in enumerate(_AMOUNT_ORDER):
            row[currency], row[f"{currency}_entries"] = amounts[2 * index] or 0, amounts[2 * index + 1]
        rows.append(row)
    return rows


def recent_rewards_for_user(user: User) -> list[dict[str, Any]]:
    """The WebSocket's initial ``recent_rewards``: the last rewards paid (claims, bonuses)."""
    return recent_actions(user_id=user.pk, limit=10, reasons=REWARD_REASONS)
