"""``manage.py seed_demo``: demo staff, players and the invite code ``5858``,
then each app's demo data through its own ``seed_<app>_demo`` command.

accounts may not import the apps above it (the import contracts), so the
other apps' demo data is seeded by calling their commands by name
(:data:`APP_SEED_COMMANDS`): the shop's catalog, the games' shipped
configuration, the demo events, missions and achievements (a command in each
app's ``management/commands/`` and a line in that list).

Idempotent: existing accounts keep their passwords. Passwords come from
``SEED_ADMIN_PASSWORD`` / ``SEED_PLAYER_PASSWORD`` or are generated. In
development mode the generated logins are also kept in ``var/demo-logins.txt``
(git-ignored) so every ``make run`` can print them again; production keeps
them nowhere.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services
from accounts.models import InviteCode, User

DEMO_INVITE_CODE = "5858"
PLAYERS = [
    ("user001", "Player One"),
    ("user002", "Player Two"),
    ("user003", "Player Three"),
    ("user004", "Player Four"),
]
# Each app's demo data, called by name (no import), after the staff account exists; each is idempotent.
APP_SEED_COMMANDS = [
    "seed_shop_demo",
    "seed_games_demo",
    "seed_events_demo",
    "seed_missions_demo",
    "seed_achievements_demo",
    "seed_segments_demo",
]


def _password(env_name: str) -> str:
    return os.environ.get(env_name) or secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Create demo staff and players (idempotent) and print their logins."

    def handle(self, *args: Any, **options: Any) -> None:
        invite, created = InviteCode.objects.get_or_create(
            code=DEMO_INVITE_CODE, defaults={"max_uses": None, "note": "demo code (seed_demo)"}
        )
        self.stdout.write(f"invite code {invite.code}: {'created' if created else 'exists'}")
        lines: list[str] = []
        with transaction.atomic(durable=True):
            admin = User.objects.filter(site_id__iexact="admin").first()
            if admin is None:
                password = _password("SEED_ADMIN_PASSWORD")
                User.objects.create_superuser("admin", "Admin", "+10000000000", password)
                lines.append(f"  staff  admin    / {password}   (created)  -> /admin/")
            else:
                lines.append("  staff  admin    (exists; password unchanged)")
        player_password = _password("SEED_PLAYER_PASSWORD")
        for number, (site_id, nickname) in enumerate(PLAYERS, start=1):
            if User.objects.filter(site_id__iexact=site_id).exists():
                lines.append(f"  player {site_id}  (exists; password unchanged)")
                continue
            # Through the real sign-up, so every player gets what sign-up gives (wallet, bonus...).
            services.user_signup(
                site_id=site_id,
                nickname=nickname,
                phone_number=f"+1000000{number:04d}",
                password=player_password,
                invite_code=DEMO_INVITE_CODE,
            )
            lines.append(f"  player {site_id}  / {player_password}   (created)")
        created_lines = [line for line in lines if "(created)" in line]
        logins_file = settings.VAR_DIR / "demo-logins.txt"
        if created_lines and not settings.PRODUCTION:
            logins_file.parent.mkdir(parents=True, exist_ok=True)
            with logins_file.open("a") as handle:
                handle.write("\n".join(created_lines) + "\n")
        self.stdout.write("Demo logins:")
        for line in lines:
            self.stdout.write(line)
        if not created_lines and logins_file.exists() and not settings.PRODUCTION:
            self.stdout.write(f"Passwords generated earlier ({logins_file}):")
            self.stdout.write(logins_file.read_text().rstrip())
        for command in APP_SEED_COMMANDS:
            call_command(command, stdout=self.stdout, stderr=self.stderr)
