#!/usr/bin/env python3
"""Check that a Kafka-protocol broker answers a real Metadata request.

Standard library only, so scripts/services.sh can run it with any python3
(the project venv need not exist yet).

    kafka_probe.py HOST PORT [--timeout SECONDS] [--expect HOST:PORT]

Sends ApiVersions v0, picks a Metadata version the broker supports (v0-v8,
the non-flexible ones), sends it and parses the broker list.  Exit status 0
when at least one broker is listed (and, with --expect, when one of them is
advertised as HOST:PORT); 1 otherwise.  One line of detail goes to stderr.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"services-probe"


class ProbeError(Exception):
    pass


class Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ProbeError("short response")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        if self.pos + length > len(self.buf):
            raise ProbeError("short response")
        value = self.buf[self.pos : self.pos + length].decode("utf-8", "replace")
        self.pos += length
        return value


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ProbeError("connection closed by broker")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> Reader:
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    reader = Reader(_recv_exact(sock, size))
    if reader.take(">i") != corr:
        raise ProbeError("correlation id mismatch")
    return reader


def probe(host: str, port: int, timeout: float) -> list[tuple[int, str, int]]:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        # ApiVersions v0: every broker answers it (KIP-511).
        reader = _request(sock, API_VERSIONS, 0, 1, b"")
        error = reader.take(">h")
        if error:
            raise ProbeError(f"ApiVersions error code {error}")
        ranges = {}
        for _ in range(reader.take(">i")):
            key, lo, hi = reader.take(">hhh")
            ranges[key] = (lo, hi)
        if API_METADATA not in ranges:
            raise ProbeError("broker does not offer the Metadata API")
        lo, hi = ranges[API_METADATA]
        version = lo
        if version > 8:
            raise ProbeError(f"broker only offers Metadata v{lo}-v{hi} (flexible), not probed")

        # Body: an empty topic list (v0: all topics; v1+: no topics) is enough for brokers.
        body = struct.pack(">i", 0)
        if version >= 4:
            body += struct.pack(">?", False)  # allow_auto_topic_creation
        if version >= 8:
            body += struct.pack(">??", False, False)  # include_*_authorized_operations
        reader = _request(sock, API_METADATA, version, 2, body)
        if version >= 3:
            reader.take(">i")  # throttle_time_ms
        brokers = []
        for _ in range(reader.take(">i")):
            node_id = reader.take(">i")
            bhost = reader.string() or ""
            bport = reader.take(">i")
            if version >= 1:
                reader.string()  # rack
            brokers.append((node_id, bhost, bport))
        return brokers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--expect", help="HOST:PORT that must be among the advertised brokers")
    args = parser.parse_args()
    try:
        brokers = probe(args.host, args.port, args.timeout)
    except (OSError, ProbeError, struct.error) as exc:
        print(f"kafka probe {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    listed = ", ".join(f"{node}@{h}:{p}" for node, h, p in brokers) or "none"
    if not brokers:
        print(f"kafka probe {args.host}:{args.port}: metadata lists no broker", file=sys.stderr)
        return 1
    if args.expect and args.expect not in {f"{h}:{p}" for _, h, p in brokers}:
        print(f"kafka probe {args.host}:{args.port}: brokers {listed}, expected {args.expect}", file=sys.stderr)
        return 1
    print(f"kafka probe {args.host}:{args.port}: brokers {listed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
