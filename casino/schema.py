"""The project's OpenAPI schema class (drf-spectacular). The authentication
scheme's extension lives with the authentication, in ``accounts.schema``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse


class CasinoAutoSchema(AutoSchema):
    """Adds the ``Idempotency-Key`` header to every operation whose view method
    is decorated with :func:`casino.idempotency.idempotent`."""

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            required = bool(getattr(handler, "idempotency_required", False))
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=required,
                    # What casino.idempotency accepts: 1-255 printable ASCII, no edge spaces.
                    pattern=r"^[!-~]([ -~]{0,253}[!-~])?$",
                    description=(
                        "Client-chosen key (a UUID); a retry with the same key and body returns the first "
                        "response. `X-Idempotency-Key` is accepted as the same header."
                    ),
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        """Idempotent operations can also answer 400 for a malformed (or, where
        required, missing) key; document it wherever the view did not. (Hooked
        here, not in get_response_serializers, which @extend_schema replaces.)"""
        responses = super()._get_response_bodies(direction)
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False) and "400" not in responses:
            from casino.errors import ErrorSerializer

            described = OpenApiResponse(
                ErrorSerializer, description="idempotency_key_invalid / idempotency_key_required"
            )
            responses["400"] = self._get_response_for_code(  # type: ignore[no-untyped-call]  # untyped in drf-spectacular
                described, "400", direction=direction
            )
        return responses
