"""A player's socket's numbered events, as the app keeps them (bench/player_socket.py reads
the socket, this keeps the book): the events held, the ones a gap says are missing, the
resync that asks for them again, and what came back. Standard library only, so the tests
import it without Locust."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any


class SequenceBook:
    """What one socket holds of the player's numbered events, and what it asks for again.

    ``event`` takes a pushed event: it records the push, a gap before it (the numbers
    skipped, kept as missing) or a repeat, and says which it was and the number to resync
    from when it found a gap (the last one held before it). ``replay`` announces the events a
    resync is answered with: those missing are recovered, those already held are the
    server's re-sends of them, not repeats. ``state`` takes an ``initial_state``'s number:
    every missing event up to it is covered by the state."""

    def __init__(self, record: Callable[[str, str, float], None]) -> None:
        self.record = record  # (kind, name, ms): bench/recording.py's ``record_socket`` in a run
        self.last_seq: int | None = None
        self.missing: set[int] = set()
        self.replaying = 0  # events of an announced replay still to come

    def state(self, seq: int | None) -> None:
        if seq is None:
            return
        covered = {number for number in self.missing if number <= seq}
        if covered:
            self.record("resync", "state", float(len(covered)))
            self.missing -= covered
        self.last_seq = seq if self.last_seq is None else max(self.last_seq, seq)

    def replay(self, count: int) -> None:
        self.record("resync", "replay", float(count))
        self.replaying = count

    def event(self, message: dict[str, Any]) -> tuple[str, int | None]:
        """What the event was -- ``push`` (new), ``recovered`` (a missing one, replayed),
        ``resent`` (one held, replayed again) or ``dup`` -- and the number to resync from
        when a gap came before it (the last one held), else None."""
        seq, kind = message["seq"], str(message.get("type"))
        replayed = self.replaying > 0
        self.replaying = max(0, self.replaying - 1)
        if seq in self.missing:
            self.missing.discard(seq)
            self.record("recovered", kind, 0.0)
            return "recovered", None
        since = None
        if self.last_seq is not None:
            if seq <= self.last_seq:
                if replayed:  # a replay re-sends what followed the gap as well
                    return "resent", None
                self.record("dup", kind, 0.0)
                return "dup", None
            if seq > self.last_seq + 1:
                self.record("gap", kind, float(seq - self.last_seq - 1))
                self.missing.update(range(self.last_seq + 1, seq))
                since = self.last_seq
        self.last_seq = seq
        delay_ms = 0.0
        if stamp := message.get("timestamp"):
            delay_ms = (time.time() - datetime.fromisoformat(stamp).timestamp()) * 1000
        self.record("push", kind, delay_ms)
        return "push", since
