"""OpenAPI extensions (drf-spectacular): how our authentication looks in the schema."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AccessTokenScheme(SimpleJWTScheme):
    target_class = "casino.authentication.AccessTokenAuthentication"
    name = "bearerAuth"


from drf_spectacular.openapi import AutoSchema  # noqa: E402
from drf_spectacular.types import OpenApiTypes  # noqa: E402
from drf_spectacular.utils import OpenApiParameter  # noqa: E402


class CasinoAutoSchema(AutoSchema):
    """Adds the ``Idempotency-Key`` header to every operation whose view method
    is decorated with :func:`casino.idempotency.idempotent`."""

    def get_override_parameters(self) -> list[OpenApiParameter]:
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
                    description=(
                        "Client-chosen key (a UUID); a retry with the same key and body returns the first "
                        "response. `X-Idempotency-Key` is accepted as the same header."
                    ),
                )
            )
        return parameters
