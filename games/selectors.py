"""Reads of games/ shared by several callers (views, other apps, admin): round history, the
published RTPs and gacha odds (read from the same rows the draw uses), seed hashes for
verification. Typed, no writes. Empty until the games issue fills it."""
