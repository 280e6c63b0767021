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
