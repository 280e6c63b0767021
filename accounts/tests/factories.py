from __future__ import annotations

from typing import Any

import factory

from accounts.models import InviteCode, User
from accounts.nicknames import nickname_skeleton as skeleton_of


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    site_id = factory.Sequence(lambda n: f"player{n:05d}")
    nickname = factory.Sequence(lambda n: f"Nick{n:05d}")
    # As sign-up stores it, so look-alike checks see factory-made players too.
    nickname_skeleton = factory.LazyAttribute(lambda user: skeleton_of(user.nickname))
    phone_number = factory.Sequence(lambda n: f"+1555{n:07d}")

    @factory.post_generation
    def password(self: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        self.set_password(extracted or "Correct-Horse-9")
        if create:
            self.save(update_fields=["password"])


class InviteCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InviteCode

    code = factory.Sequence(lambda n: f"INVITE{n:04d}")
    max_uses = 100


def players_in_bulk(count: int, *, prefix: str = "bulk") -> list[User]:
    """``count`` players made in one INSERT (no wallets: they open on first use), for tests
    that need many (a reward campaign to 1,000 players). Unusable passwords."""
    import zlib

    from django.contrib.auth.hashers import make_password

    unusable = make_password(None)
    users = [
        User(
            site_id=f"{prefix}{n:05d}",
            nickname=f"{prefix.capitalize()}{n:05d}",
            nickname_skeleton=skeleton_of(f"{prefix.capitalize()}{n:05d}"),
            phone_number=f"+1666{zlib.crc32(prefix.encode()) % 1000:03d}{n:05d}",
            password=unusable,
        )
        for n in range(count)
    ]
    return User.objects.bulk_create(users)
