"""Which players have a socket open, and each player's push sequence.

**Presence.** One sorted set in Redis, ``<prefix>:presence``: a player's id
scored with the moment their presence runs out. A socket joining its player's
group (``user.<id>``) puts the player in, with a deadline one
``group_expiry`` ahead; the process renews its open sockets' memberships
and deadlines every third of that; the last socket of the player to leave
takes them out. Joins, renewals and leaves run in one Lua script per batch
(:data:`SOCKETS`; a process sends its sockets' together), so a membership and
the presence change together: a socket leaving in one process and another of
the same player joining in another never leave the player out while a socket
is open. A process that is killed
leaves nothing behind for long: its memberships and the presence it kept run
out within ``group_expiry`` (the pusher ignores stale ones at once; the next
join sweeps expired presence away).

The pusher (``realtime.channel_layer``) reads the presence first and does
nothing more for a player who has no socket: no group read, no sequence
number, no message. It reads it in the same script as the push, never from a
copy kept by the process: a copy saying "absent" could hide a player who
connected a moment ago, whose initial state was read before the event's
commit, and the event would be lost to them.

**Sequence.** ``<prefix>:seq:<id>`` counts the events pushed to the player.
The pusher increments it in the script that writes the event to the sockets'
queues, so every socket of the player sees the numbers in the order they were
given, with no gaps unless a message was lost. A counter that does not exist
yet starts at the current time in milliseconds, so a counter lost with Redis
(or expired after a week without sockets) starts again above any number a
client saw before: the client sees a jump, never a repeat, and resyncs. A
socket joining reads the current number; ``initial_state`` carries it, and
events with a higher number follow.

Only the Redis layer of this project (``realtime.channel_layer``) keeps
presence and sequences. Under another layer (the in-memory one of embedded
mode, or a stock ``channels_redis`` layer) joining and leaving are plain group
changes and :data:`local_sequence` numbers events per process.
"""

from __future__ import annotations

import threading
from typing import Any

USER_GROUP_PREFIX = "user."
SEQ_TTL_SECONDS = 7 * 24 * 3600

# Joins, renewals and leaves of sockets, in order, in one script. KEYS: the presence set.
# ARGV: prefix, group expiry, seq ttl, operation count, then per operation: 'join', 'renew'
# or 'leave', channel, user id, group count, the group keys (the player's group first).
# Returns, per operation, the player's sequence number for a join (seeding a missing
# counter), else 0.
SOCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local prefix = ARGV[1]
local expiry = tonumber(ARGV[2])
local seq_ttl = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local stamp = string.format('%.6f', now)
local fresh = string.format('%.6f', now - expiry)
local deadline = string.format('%.6f', now + expiry)
local out = {}
local swept = false
local a = 5
for i = 1, count do
  local op, channel, uid, groups = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local first = a + 4
  a = first + groups
  out[i] = 0
  if op == 'leave' then
    for g = first, first + groups - 1 do
      redis.call('ZREM', ARGV[g], channel)
    end
    if redis.call('ZCOUNT', ARGV[first], fresh, '+inf') == 0 then
      redis.call('ZREM', KEYS[1], uid)
    end
  else
    for g = first, first + groups - 1 do
      redis.call('ZADD', ARGV[g], stamp, channel)
      redis.call('EXPIRE', ARGV[g], expiry)
    end
    redis.call('ZADD', KEYS[1], deadline, uid)
    local seq_key = prefix .. ':seq:' .. uid
    if op == 'join' then
      if not swept then
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', stamp)
        swept = true
      end
      local seq = redis.call('GET', seq_key)
      if not seq then
        seq = string.format('%.0f', math.floor(now * 1000))
        redis.call('SET', seq_key, seq)
      end
      out[i] = seq
    end
    redis.call('EXPIRE', seq_key, seq_ttl)
  end
end
return out
"""

# KEYS: presence, seq. ARGV: seq ttl. The current number, seeding a missing counter.
CURRENT_SEQ = """
local seq = redis.call('GET', KEYS[2])
if not seq then
  local t = redis.call('TIME')
  seq = string.format('%.0f', math.floor(tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000))
  redis.call('SET', KEYS[2], seq)
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return seq
"""

# KEYS: presence. ARGV: user ids. 1 for each player present now, else 0.
PRESENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i = 1, #ARGV do
  local deadline = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if deadline and tonumber(deadline) > now then out[i] = 1 else out[i] = 0 end
end
return out
"""


def user_group(user_id: int) -> str:
    return f"{USER_GROUP_PREFIX}{user_id}"


def group_user_id(group: str) -> int | None:
    """The player a group belongs to (``user.<id>``), else None."""
    if not group.startswith(USER_GROUP_PREFIX):
        return None
    try:
        return int(group[len(USER_GROUP_PREFIX) :])
    except ValueError:
        return None


def keeps_presence(layer: Any) -> bool:
    """Whether ``layer`` keeps presence and sequences (the project's Redis layer)."""
    return hasattr(layer, "socket_join")


class LocalSequence:
    """Per-process sequence numbers, for layers that keep none (embedded mode:
    one process serves every socket, so its counter is the player's)."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}
        self._lock = threading.Lock()

    def next(self, user_id: int) -> int:
        with self._lock:
            number = self._numbers.get(user_id, 0) + 1
            self._numbers[user_id] = number
            return number

    def current(self, user_id: int) -> int:
        with self._lock:
            return self._numbers.get(user_id, 0)


local_sequence = LocalSequence()


async def socket_join(layer: Any, *, channel: str, user_id: int, groups: list[str]) -> int:
    """Put ``channel`` in the player's group and ``groups``, mark the player
    present; returns their current sequence number."""
    if keeps_presence(layer):
        seq: int = await layer.socket_join(channel=channel, user_id=user_id, groups=groups)
        return seq
    for group in [user_group(user_id), *groups]:
        await layer.group_add(group, channel)
    return local_sequence.current(user_id)


async def socket_refresh(layer: Any, *, channel: str, user_id: int, groups: list[str]) -> None:
    """Renew the memberships and the presence of an open socket."""
    if keeps_presence(layer):
        await layer.socket_refresh(channel=channel, user_id=user_id, groups=groups)
        return
    for group in [user_group(user_id), *groups]:
        await layer.group_add(group, channel)


async def socket_leave(layer: Any, *, channel: str, user_id: int, groups: list[str]) -> None:
    """Take ``channel`` out of its groups; the player's last socket takes them out of the presence."""
    if keeps_presence(layer):
        await layer.socket_leave(channel=channel, user_id=user_id, groups=groups)
        return
    for group in [user_group(user_id), *groups]:
        await layer.group_discard(group, channel)


async def current_seq(layer: Any, user_id: int) -> int:
    """The player's last pushed sequence number (what a fresh ``initial_state`` carries)."""
    if keeps_presence(layer):
        seq: int = await layer.current_seq(user_id)
        return seq
    return local_sequence.current(user_id)


async def replay_since(layer: Any, user_id: int, seq: int) -> tuple[int, list[dict[str, Any]]] | None:
    """The player's current number and their events numbered after ``seq``, if
    all of them are still kept (the project's Redis layer keeps the last few);
    else None (the client gets a fresh state instead)."""
    if not keeps_presence(layer):
        return None
    replayed: tuple[int, list[dict[str, Any]]] | None = await layer.replay_since(user_id, seq)
    return replayed


async def players_present(layer: Any, user_ids: list[int]) -> set[int]:
    """Which of ``user_ids`` have a socket open now (every one, under a layer without presence)."""
    if keeps_presence(layer):
        present: set[int] = await layer.players_present(user_ids)
        return present
    return set(user_ids)
