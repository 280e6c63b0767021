"""The ledger audit (design promise 1): every balance is the sum of its entries.

For every wallet and currency (gold, gems, xp, vip_points) the audit proves

* ``balance_mismatch``   balance == SUM(delta) of the wallet's entries in that currency
                         (0 when there are none);
* ``latest_mismatch``    balance == balance_after of the newest entry (highest id) in
                         that currency -- the end of the chain is where the wallet is;
* ``chain_break``        for each entry, balance_after == previous balance_after + delta
                         (previous = the entry before it by id, 0 for the first one);
* ``negative_balance``   balance >= 0;
* ``duplicate_key``      at most one entry per (wallet, idempotency_key, currency);
* ``unknown_currency``   every entry is in a currency a wallet holds.

Entry ids order a wallet's history: entries are inserted while the wallet row
is locked (``wallet_grant``/``wallet_spend``), so for one wallet a higher id
is always a later change.

Scale: each check is one set-based query (``GROUP BY wallet, currency`` or a
window over the ledger), never a loop over wallets, so the number of queries
is the same for 10 or 100,000 wallets; only violating rows come back to
Python, at most :data:`MAX_STORED_VIOLATIONS` per check. On PostgreSQL all
checks read one REPEATABLE READ snapshot, so a grant committing while the
audit runs can never look like a mismatch (each check is one statement, and
every statement sees the same committed state).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Count, F, Max, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import Coalesce, Lag
from django.utils import timezone

from economy.enums import Currency
from economy.models import BALANCE_FIELDS, LedgerAuditRun, LedgerEntry, Wallet

MAX_STORED_VIOLATIONS = 1000
TRUNCATED_KIND = "truncated"


@dataclass(frozen=True)
class _Findings:
    violations: list[dict[str, Any]]
    total: int
    wallets_checked: int
    entries_checked: int


def ledger_audit_run() -> LedgerAuditRun:
    """Check the whole ledger and record the outcome as a :class:`LedgerAuditRun`.

    ``violations`` holds at most :data:`MAX_STORED_VIOLATIONS` dicts
    ``{user_id, site_id, currency, kind, expected, actual, ...}`` ("expected"
    is what the ledger says, "actual" what the wallet or entry holds); when
    more were found, one last dict ``{"kind": "truncated", "omitted": N}``
    says how many were left out (:func:`audit_violation_total` adds it up).

    An entry point (task, command, admin): the checks read in one durable
    transaction of their own; the run row is written after it, on its own.
    """
    started = timezone.now()
    findings = _collect()
    violations = findings.violations[:MAX_STORED_VIOLATIONS]
    _name_wallets(violations)
    if findings.total > len(violations):
        violations.append({"kind": TRUNCATED_KIND, "omitted": findings.total - len(violations)})
    return LedgerAuditRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        wallets_checked=findings.wallets_checked,
        entries_checked=findings.entries_checked,
        ok=findings.total == 0,
        violations=violations,
    )


def audit_violation_total(run: LedgerAuditRun) -> int:
    """How many violations the run found, including those not stored."""
    total = 0
    for violation in run.violations or []:
        total += int(violation.get("omitted", 0)) if violation.get("kind") == TRUNCATED_KIND else 1
    return total


def audit_violation_line(violation: dict[str, Any]) -> str:
    """One human line for a stored violation (command output, admin)."""
    if violation.get("kind") == TRUNCATED_KIND:
        return f"... and {violation.get('omitted')} more violation(s) not stored"
    who = f"wallet {violation.get('user_id')}"
    if violation.get("site_id"):
        who += f" ({violation['site_id']})"
    line = (
        f"{who} {violation.get('currency')}: {violation.get('kind')} "
        f"expected {violation.get('expected')}, actual {violation.get('actual')}"
    )
    extra = {key: value for key, value in violation.items() if key not in _LINE_KEYS}
    if extra:
        line += " " + " ".join(f"{key}={value}" for key, value in sorted(extra.items()))
    return line


_LINE_KEYS = {"user_id", "site_id", "currency", "kind", "expected", "actual"}


# --- The checks -------------------------------------------------------------------


def _collect() -> _Findings:
    # Durable: the snapshot must be this transaction's own. The only outer
    # block Django lets it run in is a test case's, where it reads in that one.
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(durable=True):
        if own_transaction and connection.vendor == "postgresql":
            # The transaction's first statement: every check reads one snapshot.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        wallets_checked = Wallet.objects.count()
        entries_checked = LedgerEntry.objects.count()
        violations: list[dict[str, Any]] = []
        total = 0
        for check in (
            _negative_balances,
            _sums_differ,
            _latest_differs,
            _chain_breaks,
            _duplicate_keys,
            _unknown_currencies,
        ):
            found, count = check()
            violations.extend(found)
            total += count
    return _Findings(
        violations=violations, total=total, wallets_checked=wallets_checked, entries_checked=entries_checked
    )


def _gather(
    rows: QuerySet[Any], to_violations: Callable[[dict[str, Any]], list[dict[str, Any]]]
) -> tuple[list[dict[str, Any]], int]:
    """Stream the offending rows (only those come back from the database): keep
    the first :data:`MAX_STORED_VIOLATIONS` violations, count them all."""
    found: list[dict[str, Any]] = []
    total = 0
    for row in rows.iterator(chunk_size=2000):
        items = to_violations(row)
        total += len(items)
        room = MAX_STORED_VIOLATIONS - len(found)
        if room > 0:
            found.extend(items[:room])
    return found, total


def _negative_balances() -> tuple[list[dict[str, Any]], int]:
    negative = reduce(operator.or_, (Q(**{f"{field}__lt": 0}) for field in BALANCE_FIELDS))
    wallets = Wallet.objects.filter(negative).order_by("pk").values("pk", *BALANCE_FIELDS)
    return _gather(
        wallets,
        lambda row: [
            {"user_id": row["pk"], "currency": field, "kind": "negative_balance", "expected": 0, "actual": row[field]}
            for field in BALANCE_FIELDS
            if row[field] < 0
        ],
    )


def _sums_differ() -> tuple[list[dict[str, Any]], int]:
    """One pass: wallets LEFT JOIN entries, GROUP BY wallet, one filtered SUM per
    currency; HAVING keeps only the wallets where some balance differs."""
    sums = {
        f"{field}_ledger": Coalesce(Sum("entries__delta", filter=Q(entries__currency=field)), Value(0))
        for field in BALANCE_FIELDS
    }
    differs = reduce(operator.or_, (~Q(**{field: F(f"{field}_ledger")}) for field in BALANCE_FIELDS))
    wallets = Wallet.objects.annotate(**sums).filter(differs).order_by("pk").values("pk", *BALANCE_FIELDS, *sums)
    return _gather(
        wallets,
        lambda row: [
            {
                "user_id": row["pk"],
                "currency": field,
                "kind": "balance_mismatch",
                "expected": row[f"{field}_ledger"],
                "actual": row[field],
            }
            for field in BALANCE_FIELDS
            if row[field] != row[f"{field}_ledger"]
        ],
    )


def _latest_differs() -> tuple[list[dict[str, Any]], int]:
    """The newest entry per (wallet, currency) -- ``id IN (SELECT MAX(id) ...
    GROUP BY wallet, currency)`` -- against its wallet's balance."""
    newest_ids = (
        LedgerEntry.objects.order_by().values("wallet_id", "currency").annotate(newest=Max("id")).values("newest")
    )
    wallet_balance = Case(
        *(When(currency=field, then=F(f"wallet__{field}")) for field in BALANCE_FIELDS),
        output_field=BigIntegerField(),
    )
    entries = (
        LedgerEntry.objects.filter(pk__in=newest_ids, currency__in=BALANCE_FIELDS)
        .annotate(wallet_balance=wallet_balance)
        .exclude(balance_after=F("wallet_balance"))
        .order_by("wallet_id", "currency")
        .values("id", "wallet_id", "currency", "balance_after", "wallet_balance")
    )
    return _gather(
        entries,
        lambda row: [
            {
                "user_id": row["wallet_id"],
                "currency": row["currency"],
                "kind": "latest_mismatch",
                "expected": row["balance_after"],
                "actual": row["wallet_balance"],
                "entry_id": row["id"],
            }
        ],
    )


def _chain_breaks() -> tuple[list[dict[str, Any]], int]:
    """Every entry continues the one before it in its wallet and currency:
    ``balance_after = LAG(balance_after, 1, 0) OVER (PARTITION BY wallet, currency ORDER BY id) + delta``.
    One sort of the ledger; Django puts the window in a subquery and filters outside."""
    entries = (
        LedgerEntry.objects.order_by()
        .annotate(
            continued=Window(
                Lag("balance_after", offset=1, default=0),
                partition_by=[F("wallet_id"), F("currency")],
                order_by=F("id").asc(),
            )
            + F("delta")
        )
        .filter(~Q(balance_after=F("continued")))
        .order_by("wallet_id", "currency", "id")
        .values("id", "wallet_id", "currency", "balance_after", "continued")
    )
    return _gather(
        entries,
        lambda row: [
            {
                "user_id": row["wallet_id"],
                "currency": row["currency"],
                "kind": "chain_break",
                "expected": row["continued"],
                "actual": row["balance_after"],
                "entry_id": row["id"],
            }
        ],
    )


def _duplicate_keys() -> tuple[list[dict[str, Any]], int]:
    duplicates = (
        LedgerEntry.objects.order_by()
        .values("wallet_id", "idempotency_key", "currency")
        .annotate(entries=Count("id"))
        .filter(entries__gt=1)
        .order_by("wallet_id", "currency", "idempotency_key")
    )
    return _gather(
        duplicates,
        lambda row: [
            {
                "user_id": row["wallet_id"],
                "currency": row["currency"],
                "kind": "duplicate_key",
                "expected": 1,
                "actual": row["entries"],
                "idempotency_key": row["idempotency_key"],
            }
        ],
    )


def _unknown_currencies() -> tuple[list[dict[str, Any]], int]:
    strays = (
        LedgerEntry.objects.exclude(currency__in=Currency.values)
        .order_by()
        .values("wallet_id", "currency")
        .annotate(entries=Count("id"))
        .order_by("wallet_id", "currency")
    )
    return _gather(
        strays,
        lambda row: [
            {
                "user_id": row["wallet_id"],
                "currency": row["currency"],
                "kind": "unknown_currency",
                "expected": 0,
                "actual": row["entries"],
            }
        ],
    )


def _name_wallets(violations: list[dict[str, Any]]) -> None:
    """Add the player's login (site_id) to each stored violation, one query."""
    ids = {violation["user_id"] for violation in violations if "user_id" in violation}
    if not ids:
        return
    user_model = get_user_model()
    names = dict(user_model.objects.filter(pk__in=ids).values_list("pk", user_model.USERNAME_FIELD))
    for violation in violations:
        if violation.get("user_id") in names:
            violation["site_id"] = names[violation["user_id"]]
