"""A process seen from outside, through ``/proc``: its memory, its CPU time and its
TCP connections to a service (bench/sockets.py reads the ASGI server's)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.stack import Process


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcp_connections(pid: int, remote_port: int) -> int:
    """The process's established TCP connections to ``remote_port`` (Redis 6379, PostgreSQL 5432)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote, state, inode = parts[2], parts[3], parts[9]
            if state == "01" and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                count += 1
    return count


def server_figures(process: Process, redis_port: int, pg_port: int) -> dict[str, float]:
    return {
        "rss_mb": round(rss_mb(process.pid), 1),
        "redis_connections": tcp_connections(process.pid, redis_port),
        "postgres_connections": tcp_connections(process.pid, pg_port),
    }
