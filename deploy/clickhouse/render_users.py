"""Render ClickHouse's users.d override for docker-compose.yml (the `clickhouse-config` service).

    CLICKHOUSE_USER=casino CLICKHOUSE_PASSWORD=... CLICKHOUSE_DB=casino \
        python deploy/clickhouse/render_users.py /users.d/casino.xml

The stack runs yandex/clickhouse-server 18.16, the version the tests run. Its image predates the
entrypoint that creates a user from CLICKHOUSE_USER/CLICKHOUSE_PASSWORD, so this script writes the
user into a file that the server merges into its users.xml (every *.xml in users.d/ next to it;
the root element must be <yandex>, like users.xml's). The file holds:

* the application user: only the SHA-256 of its password (<password_sha256_hex>, never the
  password), reachable only from the networks this container is attached to (the compose
  network; CLICKHOUSE_ALLOWED_NETWORKS, comma-separated, overrides), limited to CLICKHOUSE_DB
  (the database `manage.py clickhouse_schema` creates);
* the built-in `default` user (no password in the image) locked to loopback: the container's
  healthcheck is all that uses it.

Networks are written the IPv6 way, IPv4 ones mapped (172.18.0.0/16 becomes ::ffff:172.18.0.0/112).
Measured on Debian's clickhouse-server 18.16.1 (casino/tests/test_compose.py starts one): an IPv4
network such as <ip>172.18.0.0/16</ip> admits every IPv4 client (the server compares the first 16
bits of the IPv6-mapped address, all zero), while the mapped form admits exactly its network.
Single IPv4 addresses (127.0.0.1) are matched correctly.

Standard library only: it runs in a stock python image before the application image exists.
Exit status 2 and a message on stderr for a missing or unusable setting.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import re
import socket
import struct
import sys
from pathlib import Path
from xml.sax.saxutils import escape

# An XML element name and a ClickHouse identifier at once: the user name is both.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ROUTE_TABLE = "/proc/net/route"
LOOPBACK = ("::1", "127.0.0.1")
RTF_GATEWAY = 0x2

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A setting is missing or unusable."""


def attached_networks(route_table: str = ROUTE_TABLE) -> list[Network]:
    """The IPv4 subnets this host is directly attached to: the routes without a gateway in
    /proc/net/route (hexadecimal, host byte order), loopback and default routes left out."""
    networks: list[Network] = []
    lines = Path(route_table).read_text(encoding="ascii").splitlines()
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination, flags, mask = fields[1], int(fields[3], 16), fields[7]
        if flags & RTF_GATEWAY:
            continue
        address = socket.inet_ntoa(struct.pack("<L", int(destination, 16)))
        netmask = socket.inet_ntoa(struct.pack("<L", int(mask, 16)))
        network = ipaddress.ip_network(f"{address}/{netmask}", strict=False)
        if network.prefixlen == 0 or network.is_loopback or network in networks:
            continue
        networks.append(network)
    return networks


def parse_networks(value: str) -> list[Network]:
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError as error:
            raise ConfigError(f"CLICKHOUSE_ALLOWED_NETWORKS: {error}") from None
        networks.append(network)
    return networks


def ip_pattern(network: Network) -> str:
    """How ClickHouse's <ip> is written for network: IPv6, an IPv4 network mapped into it."""
    if isinstance(network, ipaddress.IPv4Network):
        return f"::ffff:{network.network_address}/{network.prefixlen + 96}"
    return str(network)


def password_sha256_hex(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def render(*, user: str, password: str, database: str, networks: list[Network]) -> str:
    """The users.d file: the application user and the locked-down `default` user."""
    for label, value in (("CLICKHOUSE_USER", user), ("CLICKHOUSE_DB", database)):
        if not NAME.fullmatch(value):
            raise ConfigError(f"{label} must match {NAME.pattern}, got {value!r}")
    if user == "default":
        raise ConfigError("CLICKHOUSE_USER must not be `default`: that user stays on loopback")
    if not password:
        raise ConfigError("CLICKHOUSE_PASSWORD is empty")
    if not networks:
        raise ConfigError("no network to admit the application from (set CLICKHOUSE_ALLOWED_NETWORKS)")
    for network in networks:
        if network.prefixlen == 0:
            raise ConfigError(f"{network} admits every address; name the compose network instead")
    allowed = "\n".join(f"                <ip>{escape(ip_pattern(network))}</ip>" for network in networks)
    loopback = "\n".join(f"                <ip>{address}</ip>" for address in LOOPBACK)
    return f"""<?xml version="1.0"?>
<!-- Written by deploy/clickhouse/render_users.py (docker-compose.yml, clickhouse-config). -->
<yandex>
    <users>
        <default>
            <networks replace="replace">
{loopback}
            </networks>
        </default>
        <{user}>
            <password_sha256_hex>{password_sha256_hex(password)}</password_sha256_hex>
            <networks>
{allowed}
            </networks>
            <profile>default</profile>
            <quota>default</quota>
            <allow_databases>
                <database>{database}</database>
            </allow_databases>
        </{user}>
    </users>
</yandex>
"""


def write(path: Path, text: str) -> None:
    """Replace path atomically: the server never reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not *.xml: the server would merge it if it looked while this runs.
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)  # the server runs as its own user
    os.replace(temporary, path)


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("output", type=Path, help="the file to write, e.g. /users.d/casino.xml")
    parser.add_argument("--route-table", default=ROUTE_TABLE, help="where the attached networks are read")
    arguments = parser.parse_args(argv)
    try:
        override = os.environ.get("CLICKHOUSE_ALLOWED_NETWORKS", "")
        networks = parse_networks(override) if override.strip() else attached_networks(arguments.route_table)
        text = render(
            user=required("CLICKHOUSE_USER"),
            password=required("CLICKHOUSE_PASSWORD"),
            database=required("CLICKHOUSE_DB"),
            networks=networks,
        )
    except ConfigError as error:
        sys.stderr.write(f"render_users: {error}\n")
        return 2
    write(arguments.output, text)
    names = ", ".join(str(network) for network in networks)
    sys.stdout.write(f"render_users: wrote {arguments.output} (user {os.environ['CLICKHOUSE_USER']} from {names})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
