"""Tables of games/: seeds (server seed hash, client seed, nonce), rounds, paytables and gacha
pools, per-player stats, achievements. Fields, constraints (CHECKs, unique idempotency keys),
indexes and tiny properties only; no business logic, none in save(). Empty until the games issue
fills it."""
