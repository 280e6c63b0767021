"""Provably-fair games: slots, crash, gacha, rounds, stats, achievements."""
