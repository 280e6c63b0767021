#!/usr/bin/env python3
"""The socket bench's event emitter (bench/sockets.py, the push stage), run as a process of its
own: ``bench/socket_emitter.py <work.json>`` commits ``rate`` events a second for ``seconds`` to
the players listed, as a web process would (``realtime.emit`` in a transaction), and writes event
id -> (player, commit time) to ``<work>.out.json``."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def emit_from_file(work: Path) -> None:
    """Commit the events ``work`` (JSON: rate, seconds, players) asks for; write what was committed beside it."""
    import django

    django.setup()
    spec = json.loads(work.read_text())
    committed = emit_at(spec["rate"], spec["seconds"], spec["players"])
    work.with_suffix(".out.json").write_text(json.dumps(committed))


def emit_at(rate: float, seconds: int, player_ids: list[int]) -> dict[str, tuple[int, float]]:
    """Commit ``rate`` events a second (open loop, 4 threads) to random connected players;
    event id -> (player, commit time)."""
    import random

    from django.db import connection, transaction

    import realtime
    from realtime.push import dispatcher

    total = int(rate * seconds)
    committed: dict[str, tuple[int, float]] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    threads = 4

    def worker(offset: int) -> None:
        rng = random.Random(offset)  # load, not secrets
        try:
            for n in range(offset, total, threads):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                player_id = rng.choice(player_ids)
                with transaction.atomic():
                    event = realtime.emit("stats_update", player_id, {"bench": n})
                at = time.time()
                with lock:
                    committed[str(event.event_id)] = (player_id, at)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    dispatcher.wait_idle(30)
    return committed


if __name__ == "__main__":
    emit_from_file(Path(sys.argv[1]))
