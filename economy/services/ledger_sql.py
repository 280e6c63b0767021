"""The ledger's postings as SQL written out (``economy.services.ledger``: the shortest path).

A posting is the hottest write of the product, so its statements are not compiled by the ORM
on every call: lock the wallet and read it, insert the entries unless their keys were used,
update the balances -- two statements on PostgreSQL, each one round trip, three on SQLite.
Identifiers come from the models (a rename breaks loudly here); every value is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from accounts.models import User
from casino.db import column_name, row_lock_clause, rows_insert_unless
from economy.models import BALANCE_FIELDS, LedgerEntry, Wallet

WALLET_FIELDS = (*BALANCE_FIELDS, "vip_tier", "gold_debt", "gems_debt")
ENTRY_FIELDS = (
    "wallet",
    "currency",
    "delta",
    "balance_after",
    "reason",
    "reference",
    "idempotency_key",
    "metadata",
    "created_at",
)


def one_row(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def wallet_as_read(user_id: int, balances: Sequence[Any]) -> Wallet:
    """The wallet from its ``WALLET_FIELDS`` columns as a lock statement read them."""
    return Wallet.from_db(connection.alias, ["user_id", *WALLET_FIELDS], [user_id, *balances])


class LedgerStatements:
    """The posting's SQL, written out (this module's docstring).
    Identifiers come from the models (a rename breaks loudly here), every value
    is a parameter."""

    @staticmethod
    def lock_wallet(user_id: int) -> Wallet | None:
        """``SELECT`` of the wallet's balances, the row locked for the posting's
        change (``casino.db.row_lock_clause``)."""
        columns = ", ".join(column_name(Wallet, name) for name in WALLET_FIELDS)
        lock = row_lock_clause(connection)
        sql = f"SELECT {columns} FROM {Wallet._meta.db_table} WHERE {column_name(Wallet, 'user')} = %s{lock}"  # noqa: S608
        row = one_row(sql, [user_id])
        return None if row is None else wallet_as_read(user_id, row)

    @staticmethod
    def lock_wallet_after(
        user_id: int, statement: str, params: Sequence[Any]
    ) -> tuple[tuple[Any, ...], Wallet | None] | None:
        """The caller's ``statement`` as a ``WITH`` query, then the wallet locked
        after it in the same statement (the module's ``wallet_lock_after``)."""
        columns = ", ".join(column_name(Wallet, name) for name in WALLET_FIELDS)
        sql = (
            f"WITH first AS ({statement}) SELECT first.*, w.* FROM first"  # noqa: S608 - names from the models
            f" LEFT JOIN LATERAL (SELECT {columns} FROM {Wallet._meta.db_table}"
            f" WHERE {column_name(Wallet, 'user')} = %s{row_lock_clause(connection)}) w ON true"
        )
        row = one_row(sql, [*params, user_id])
        if row is None:
            return None
        split = len(row) - len(WALLET_FIELDS)
        first, balances = row[:split], row[split:]
        if balances[0] is None:  # no wallet row (its balances are never NULL)
            return first, None
        return first, wallet_as_read(user_id, balances)

    @staticmethod
    def lock_owner_and_wallet(
        user_id: int, reading: str, params: Sequence[Any]
    ) -> tuple[Wallet, tuple[Any, ...]] | None:
        """``SELECT`` of the wallet's balances (and the caller's ``reading``) locking
        the player's user row, then their wallet row, in one statement (a row lock
        clause locks its tables' rows in the order it names them;
        ``casino.db.row_lock_clause``); None when the player has no wallet (nothing
        is locked then)."""
        columns = ", ".join(f"w.{column_name(Wallet, name)}" for name in WALLET_FIELDS)
        user_id_column = f"u.{column_name(User, 'id')}"
        sql = (
            f"SELECT {columns}{f', {reading}' if reading else ''} FROM {User._meta.db_table} u"  # noqa: S608
            f" JOIN {Wallet._meta.db_table} w ON w.{column_name(Wallet, 'user')} = {user_id_column}"
            f" WHERE {user_id_column} = %s{row_lock_clause(connection, of=('u', 'w'))}"
        )
        row = one_row(sql, [*params, user_id])
        if row is None:
            return None
        return wallet_as_read(user_id, row[: len(WALLET_FIELDS)]), row[len(WALLET_FIELDS) :]

    @staticmethod
    def keyed_entries(keys: list[str]) -> str:
        """``SELECT 1`` of the wallet's entries carrying one of ``keys`` (parameters: the wallet, then the keys)."""
        placeholders = ", ".join(["%s"] * len(keys))
        return (
            f"SELECT 1 FROM {LedgerEntry._meta.db_table} WHERE {column_name(LedgerEntry, 'wallet')} = %s"  # noqa: S608
            f" AND {column_name(LedgerEntry, 'idempotency_key')} IN ({placeholders})"
        )

    @staticmethod
    def keys_used(user_id: int, keys: list[str]) -> bool:
        """Whether any entry of the wallet carries one of ``keys`` (the replay check)."""
        with connection.cursor() as cursor:
            cursor.execute(f"{LedgerStatements.keyed_entries(keys)} LIMIT 1", [user_id, *keys])
            return cursor.fetchone() is not None

    @staticmethod
    def wallet_update_sql(wallet: Wallet, fields: list[str]) -> tuple[str, list[Any]]:
        """The ``UPDATE`` of the wallet's ``fields`` to the instance's values (SQL, parameters)."""
        assignments = ", ".join(f"{column_name(Wallet, name)} = %s" for name in fields)
        values = [getattr(wallet, name) for name in fields]
        values[fields.index("updated_at")] = connection.ops.adapt_datetimefield_value(wallet.updated_at)
        sql = f"UPDATE {Wallet._meta.db_table} SET {assignments} WHERE {column_name(Wallet, 'user')} = %s"  # noqa: S608
        return sql, [*values, wallet.pk]

    @staticmethod
    def post_unless_keyed(wallet: Wallet, keys: list[str], entries: list[LedgerEntry], changed: list[str]) -> bool:
        """One multi-row ``INSERT ... RETURNING id`` of the entries, unless an entry
        of the wallet already carries one of ``keys`` (the replay check, in the
        same statement), and the wallet's ``changed`` fields updated only when they
        were (on PostgreSQL in that statement too); whether they were inserted
        (each entry's pk is set then)."""
        used = LedgerStatements.keyed_entries(keys)
        then = LedgerStatements.wallet_update_sql(wallet, changed)
        return rows_insert_unless(entries, ENTRY_FIELDS, exists=used, params=[wallet.pk, *keys], then=then)
