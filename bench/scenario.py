"""What one Locust process of the bench works from: its configuration (the JSON
file named in ``BENCH_CONFIG``, written by bench/load.py), the seeded players
and the order they are used in, and the request series of the closed loop."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

if "BENCH_CONFIG" not in os.environ:
    raise RuntimeError("bench/locustfile.py is started by bench/run.py (BENCH_CONFIG names its config)")
CONFIG: dict[str, Any] = json.loads(Path(os.environ["BENCH_CONFIG"]).read_text())
PLAYERS: list[dict[str, Any]] = json.loads(Path(CONFIG["players_path"]).read_text())
PACING_S: float = float(CONFIG.get("pacing_s", 2.0))

# --- the player pool -------------------------------------------------------------------------

_order = list(range(len(PLAYERS)))
random.Random(CONFIG.get("seed", 7)).shuffle(_order)
_pool = itertools.cycle(_order)
_signups = itertools.count(1)
_sat_pool = itertools.cycle(list(reversed(_order)))


def next_player() -> dict[str, Any]:
    return PLAYERS[next(_pool)]


def new_signup() -> dict[str, Any]:
    n = next(_signups)
    return {
        "site_id": f"bs{CONFIG['run_tag']}{n:06d}",
        "nickname": f"Bench Signup {CONFIG['run_tag']} {n:06d}",
        "phone_number": f"+1666{n:08d}",
        "ip": f"10.200.{(n // 250) % 250}.{n % 250 + 1}",
        "device": f"bench-signup-device-{n:06d}",
        "new": True,
    }


def next_saturation_player() -> dict[str, Any]:
    """The closed loop walks the pool backwards, away from the open loop's players."""
    return PLAYERS[next(_sat_pool)]


# --- the closed loop -------------------------------------------------------------------------

# Tokens issued by bench/run.py before the load ({"access", "refresh"} by player id): the closed loop's
# requests and the open loop's players already in a visit when they appear.
TOKENS: dict[str, dict[str, str]] = (
    json.loads(Path(CONFIG["tokens_path"]).read_text()) if CONFIG.get("tokens_path") else {}
)

# series -> the requests it cycles through: (method, path, sample name, body or None, expected statuses)
SERIES: dict[str, list[tuple[str, str, str, Any, tuple[int, ...]]]] = {
    # the bare-framework reference (bench/bare.py): the same request as a gem purchase, the same token
    "bare_purchase": [("POST", "/bench/bare/purchase", "sat_bare_purchase", "gems", (201,))],
    "purchase": [("POST", "/api/shop/buy", "sat_buy_gems", "gems", (201,))],
    "claim": [
        ("POST", "/api/streak/claim", "sat_streak_claim", None, (200, 409)),
        ("POST", "/api/vip/claim", "sat_vip_claim", None, (200, 409)),
    ],
    # single endpoints, for profiling (bench/run.py --profile)
    "dashboard": [("GET", "/api/dashboard", "sat_dashboard", None, (200,))],
    "buy_gems": [("POST", "/api/shop/buy", "sat_buy_gems", "gems", (201,))],
    "streak_claim": [("POST", "/api/streak/claim", "sat_streak_claim", None, (200, 409))],
    "vip_claim": [("POST", "/api/vip/claim", "sat_vip_claim", None, (200, 409))],
    "balance": [("GET", "/api/users/balance", "sat_balance", None, (200,))],
    "shop_catalog": [("GET", "/api/shop/catalog", "sat_shop_catalog", None, (200,))],
    "slot_spin": [("POST", "/api/games/slot/spin", "sat_slot_spin", "spin", (200, 201))],
    "bare_read": [("GET", "/bench/bare/wallet", "sat_bare_read", None, (200,))],
}
