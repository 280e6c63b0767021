-- The PostgreSQL ceiling of one purchase on this schema (bench/ceiling.py runs it
-- with pgbench on a copy of the seeded bench database; docs/architecture.md "Performance targets").
--
-- The write set of a game-currency purchase, minus Django: lock the player's
-- wallet row, move the balance, insert the ledger entry under a unique key,
-- insert the order and its outbox event, commit. Players are picked at random
-- among the seeded ones, so contention is per player, as in the API.
--
-- Variables (pgbench -D): minuid, maxuid (seeded user ids), productid (the gem
-- pack), price (its price in gems).
\set uid random(:minuid, :maxuid)
\set delta -1 * :price
BEGIN;
SELECT gems - :price AS new_gems FROM economy_wallet WHERE user_id = :uid FOR UPDATE \gset
UPDATE economy_wallet SET gems = :new_gems, updated_at = now() WHERE user_id = :uid;
INSERT INTO economy_ledgerentry
    (wallet_id, currency, delta, balance_after, reason, reference, idempotency_key, metadata, created_at)
VALUES
    (:uid, 'gems', :delta, :new_gems, 'purchase', 'pgbench', 'pgbench:' || txid_current(), '{}', now());
INSERT INTO shop_order
    (receipt_code, quantity, status, price_type, currency, unit_price, subtotal, discount, total, grants,
     grant_items, provider, provider_reference, checkout_url, idempotency_key, request_fingerprint, stock_held,
     failure_reason, device_id, created_at, updated_at, paid_at, fulfilled_at, user_id, product_id)
VALUES
    ('PGB' || txid_current(), 1, 'fulfilled', 'gems', 'gems', :price, :price, 0, :price, '{"gold": 1000}',
     '[]', 'wallet', '', '', 'pgbench:' || txid_current(), '', false,
     '', '', now(), now(), now(), now(), :uid, :productid);
INSERT INTO realtime_outboxevent
    (event_id, type, user_id, data, occurred_at, status, attempts, next_attempt_at, last_error)
VALUES
    (gen_random_uuid(), 'purchase_update', :uid, '{"status": "fulfilled"}', now(), 'pending', 0, now(), '');
END;
