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


class WritesThenRefusesView(APIView):
    """Writes an audit row, then refuses (or answers 503): in the request's
    transaction (``?around=1``: around the view, where the row stays)."""

    def post(self, request: Request) -> Response:
        around = request.query_params.get("around") == "1"
        return (self._around if around else self._inside)(request)

    @idempotent(required=True)
    def _inside(self, request: Request) -> Response:
        return self._work(request)

    @idempotent(required=True, atomic=False)
    def _around(self, request: Request) -> Response:
        return self._work(request)

    def _work(self, request: Request) -> Response:
        audit_record(actor=request.user, action="test_execution", target_id="z", reason="test")
        if request.data.get("answer") == 503:
            return Response({"error": "unavailable"}, status=503)
        raise ApplicationError("refused after writing", code="refused")


class OptionalKeyView(APIView):
    @idempotent()
    def post(self, request: Request) -> Response:
        row = audit_record(actor=request.user, action="test_execution", target_id="y", reason="test")
        return Response({"execution": row.pk})


urlpatterns = [
    path("api/test/grant", CountedGrantView.as_view()),
    path("api/test/optional", OptionalKeyView.as_view()),
    path("api/test/writes-then-refuses", WritesThenRefusesView.as_view()),
    path("", include("casino.urls")),
]
