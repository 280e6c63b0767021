"""Input and output shapes of the auth API (names per the client contract)."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import PHONE_VALIDATOR, SITE_ID_VALIDATOR
from accounts.nicknames import NICKNAME_MAX_LENGTH, NICKNAME_MIN_LENGTH, nickname_clean
from accounts.serializers import UserSerializer
from accounts.services.users import email_normal_form
from casino.serializers import OutputSerializer

# --- Input ---------------------------------------------------------------------


class NicknameField(serializers.CharField):
    """A nickname, received in its normal form (``accounts.nicknames``): NFKC, white
    space collapsed; refused with a field message when it holds invisible,
    formatting, control or text-direction characters."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_length", NICKNAME_MIN_LENGTH)
        kwargs.setdefault("max_length", NICKNAME_MAX_LENGTH)
        kwargs.setdefault(
            "help_text",
            "Stored in Unicode NFKC; no invisible, control or text-direction characters; "
            "must not look the same as another player's nickname.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            return nickname_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc


# What a phone number may be written with besides its digits: the client's form
# takes `010-1234-5678`; people also type spaces, dots and brackets.
_PHONE_SEPARATORS = re.compile(r"[\s\-.()/]")


def phone_number_normal_form(value: str) -> str:
    """A phone number as stored: its digits, with a leading ``+`` kept if it
    had one (``010-1234-5678`` -> ``01012345678``, ``+1 (555) 000-1111`` ->
    ``+15550001111``). Not E.164: a national number stays national, because
    the country cannot be told from it. Anything else (letters, a ``+`` inside)
    is left for :data:`PHONE_VALIDATOR` to refuse."""
    return _PHONE_SEPARATORS.sub("", value.strip())


class PhoneNumberField(serializers.CharField):
    """A phone number, accepted with spaces, dashes, dots and brackets and
    stored normalised (:func:`phone_number_normal_form`), so duplicates are
    found whatever the spelling."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault(
            "help_text",
            "10-15 digits, optionally starting with '+'; spaces, dashes, dots and brackets are allowed and "
            "removed (`010-1234-5678` is stored as `01012345678`; no country code is added).",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = phone_number_normal_form(super().to_internal_value(data))
        try:
            PHONE_VALIDATOR(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class EmailAddressField(serializers.EmailField):
    """An email address, optional: blank (or null) means none. Stored with its
    domain lower-cased (the part before ``@`` is the mail server's to read, so
    it is kept as typed). Not unique: refusing an address another account has
    would tell anyone with an invite code whose address is registered."""

    # Checked by hand rather than as ``max_length``: in the schema, a ``maxLength`` beside
    # ``format: email`` sends schemathesis looking for a 254-character address, for minutes.
    MAX_LENGTH = 254

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault(
            "help_text",
            "Where the welcome email goes (and campaign emails, if the player's notification settings "
            "accept them). Optional; empty or null: none. At most 254 characters; the domain is "
            "stored lower-cased.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data).strip()
        if len(value) > self.MAX_LENGTH:
            raise serializers.ValidationError(f"Ensure this field has no more than {self.MAX_LENGTH} characters.")
        if any(ord(character) < 32 or ord(character) == 127 for character in value):
            raise serializers.ValidationError(self.error_messages["invalid"])
        return email_normal_form(value)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        is_empty, value = super().validate_empty_values(data)
        return is_empty, ("" if is_empty and value is None else value)


class SignupInputSerializer(serializers.Serializer):
    site_id = serializers.CharField(min_length=3, max_length=50, validators=[SITE_ID_VALIDATOR])
    nickname = NicknameField()
    phone_number = PhoneNumberField()
    invite_code = serializers.CharField(max_length=32)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    email = EmailAddressField()


class LoginInputSerializer(serializers.Serializer):
    site_id = serializers.CharField(max_length=50, required=False, help_text="site_id or nickname")
    nickname = serializers.CharField(max_length=50, required=False, help_text="Alternative to site_id.")
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        identifier = attrs.get("site_id") or attrs.get("nickname")
        if not identifier:
            raise serializers.ValidationError({"site_id": ["Give a site_id or a nickname."]})
        attrs["identifier"] = identifier
        return attrs


class RefreshInputSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=2048)


class LogoutInputSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=2048, required=False, allow_blank=True)


class ProfileUpdateInputSerializer(serializers.Serializer):
    nickname = NicknameField(required=False)
    phone_number = PhoneNumberField(required=False)
    email = EmailAddressField(help_text="A new address, or empty (or null) to remove it.")


class InviteValidateInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class SelfExclusionInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365 * 5, required=False)
    until = serializers.DateTimeField(required=False, help_text="ISO 8601 UTC; alternative to days.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("days" in attrs) == ("until" in attrs):
            raise serializers.ValidationError({"days": ["Give either days or until."]})
        return attrs


class SpendLimitInputSerializer(serializers.Serializer):
    daily_spend_limit = serializers.IntegerField(
        min_value=1,
        max_value=10**12,
        allow_null=True,
        help_text="Minor units (cents) per UTC day; null removes the limit (after the cooling-off period).",
    )


# --- Output ------------------------------------------------------------------------


class AuthResponseSerializer(OutputSerializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    expires_in = serializers.IntegerField(help_text="Access token lifetime in seconds.")
    user = UserSerializer()


class RefreshResponseSerializer(OutputSerializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="bearer")
    expires_in = serializers.IntegerField()


class MessageSerializer(OutputSerializer):
    message = serializers.CharField()


class LogoutResponseSerializer(MessageSerializer):
    revoked = serializers.BooleanField(help_text="Whether a refresh token was revoked.")


class InviteValidateResponseSerializer(OutputSerializer):
    # The client reads a field named is_valid; DRF moves declared fields off the class, so the
    # method of the same name is not shadowed (this serializer only shapes an answer).
    is_valid = serializers.BooleanField()  # type: ignore[assignment]
    error_message = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True, help_text="not_found, inactive, expired or used_up")
    code = serializers.CharField(allow_null=True)
    remaining_uses = serializers.IntegerField(allow_null=True, help_text="null: unlimited or unknown code")
    expires_at = serializers.DateTimeField(allow_null=True)


class ResponsibleGamingSerializer(OutputSerializer):
    self_excluded_until = serializers.DateTimeField(allow_null=True)
    daily_spend_limit = serializers.IntegerField(allow_null=True, help_text="In force now, minor units.")
    pending_daily_spend_limit = serializers.IntegerField(allow_null=True)
    pending_limit_clears = serializers.BooleanField()
    pending_limit_effective_at = serializers.DateTimeField(allow_null=True)
