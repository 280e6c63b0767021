"""A tiny idempotent endpoint for testing the plumbing itself: each execution
writes one audit row, so tests can count executions."""

from __future__ import annotations

import time

from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.errors import ApplicationError
from casino.idempotency import idempotent
from casino.services import audit_record


class CountedGrantView(APIView):
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        amount = request.data.get("amount", 0)
        if amount == "refuse":
            raise ApplicationError("refused on purpose", code="refused")
        if request.data.get("slow"):
            time.sleep(float(request.data["slow"]))
        row = audit_record(
            actor=request.user, action="test_execution", target_id="x", reason="test", data={"amount": amount}
        )
        return Response({"execution": row.pk, "amount": amount}, status=201)


class OptionalKeyView(APIView):
    @idempotent()
    def post(self, request: Request) -> Response:
        row = audit_record(actor=request.user, action="test_execution", target_id="y", reason="test")
        return Response({"execution": row.pk})


urlpatterns = [
    path("api/test/grant", CountedGrantView.as_view()),
    path("api/test/optional", OptionalKeyView.as_view()),
    path("", include("casino.urls")),
]
