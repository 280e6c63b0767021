"""Which players a saved :class:`~economy.models.Segment` holds.

:func:`segment_players` is the one definition of a segment's members: the admin's preview
counts it, campaigns target it. It works on an unsaved segment too (the preview runs before
anything is stored). Only active, non-staff players are ever members: a banned player or a
staff account is never the target of anything a segment drives.

Each criterion left empty matches everyone; the ones that are set combine with AND. Two read
other tables that may have no row for a player:

* RFM group and total spent come from ``PlayerSegment``, written by the nightly computation. A
  player without a row (joined after the last run) is in no RFM group, and counts as having
  spent nothing: a "spent at most N" segment includes them, "at least N" (N > 0) does not.
* VIP tier and level come from the wallet; a player without one matches neither.

Phone numbers are stored as typed, minus separators (``accounts.api.serializers.
phone_number_normal_form``): ``+821012345678`` carries its country, ``01012345678`` does not.
A prefix ``+82`` matches ``+82...`` and the international-dialling spelling ``0082...``; a
national number matches only when ``SEGMENT_NATIONAL_CALLING_CODE`` names the country it
belongs to (the one market the deployment serves), and never otherwise.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import PositiveBigIntegerField, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from economy.levels import total_xp_for_level

if TYPE_CHECKING:
    from accounts.models import User
    from economy.models import Segment

# A country calling code: "+", then 1 to 3 digits, the first never 0 (ITU-T E.164).
CALLING_CODE = re.compile(r"^\+[1-9][0-9]{0,2}$")


def parse_phone_prefixes(text: str) -> list[str]:
    """The calling codes of a segment's ``phone_prefixes`` ("+82, +1"), spaces dropped,
    duplicates removed, order kept. Raises ``ValueError`` naming the first that is not a
    calling code, so the admin form can say which one."""
    codes: list[str] = []
    for raw in text.split(","):
        code = raw.strip().replace(" ", "")
        if not code:
            continue
        if not code.startswith("+") and code.isdigit():
            code = f"+{code}"
        if not CALLING_CODE.match(code):
            raise ValueError(code)
        if code not in codes:
            codes.append(code)
    return codes


def level_xp_range(level_min: int | None, level_max: int | None) -> tuple[int | None, int | None]:
    """The wallet XP range, ``[low, high)``, of players whose level is in ``[level_min,
    level_max]`` (``economy.levels``): from the XP that reaches ``level_min`` up to, not
    including, the XP that reaches ``level_max + 1``. ``None`` leaves that end open."""
    low = total_xp_for_level(level_min) if level_min is not None and level_min > 1 else None
    high = total_xp_for_level(level_max + 1) if level_max is not None else None
    return low, high


def _stored_codes(text: str) -> list[str]:
    """The valid codes of a stored value; the form refuses a bad one, but a row written
    some other way must narrow the segment (to nobody, at worst), never widen it or fail."""
    codes = []
    for raw in text.split(","):
        try:
            codes.extend(parse_phone_prefixes(raw))
        except ValueError:
            continue
    return codes


def _phone_q(codes: list[str]) -> Q:
    national = next(iter(_stored_codes(str(getattr(settings, "SEGMENT_NATIONAL_CALLING_CODE", "") or ""))), "")
    matches = Q(pk__in=[])
    for code in codes:
        digits = code[1:]
        matches |= Q(phone_number__startswith=f"+{digits}") | Q(phone_number__startswith=f"00{digits}")
        if code == national:
            # A national number: no "+", and not an international "00..." spelling.
            matches |= Q(phone_number__regex=r"^(0[1-9]|[1-9])")
    return matches


def segment_players(segment: Segment) -> QuerySet[User]:
    """The active, non-staff players matching every criterion ``segment`` sets."""
    from accounts.models import User

    players = User.objects.filter(is_active=True, is_staff=False)
    if segment.rfm_groups:
        players = players.filter(segment__rfm_group__in=list(segment.rfm_groups))
    if segment.vip_tiers:
        players = players.filter(wallet__vip_tier__in=list(segment.vip_tiers))
    xp_low, xp_high = level_xp_range(segment.level_min, segment.level_max)
    if segment.level_min is not None or segment.level_max is not None:
        players = players.filter(wallet__isnull=False)
    if xp_low is not None:
        players = players.filter(wallet__xp__gte=xp_low)
    if xp_high is not None:
        players = players.filter(wallet__xp__lt=xp_high)
    now = timezone.now()
    if segment.seen_within_days is not None:
        players = players.filter(last_seen_at__gte=now - timedelta(days=segment.seen_within_days))
    if segment.unseen_for_days is not None:
        cutoff = now - timedelta(days=segment.unseen_for_days)
        players = players.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=cutoff))
    if segment.total_spent_min is not None or segment.total_spent_max is not None:
        players = players.annotate(
            segment_total_spent=Coalesce("segment__total_spent", 0, output_field=PositiveBigIntegerField())
        )
        if segment.total_spent_min is not None:
            players = players.filter(segment_total_spent__gte=segment.total_spent_min)
        if segment.total_spent_max is not None:
            players = players.filter(segment_total_spent__lte=segment.total_spent_max)
    if segment.phone_prefixes.strip():
        players = players.filter(_phone_q(_stored_codes(segment.phone_prefixes)))
    return players.order_by("id")
