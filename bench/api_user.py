"""The Locust user every bench user builds on: one request at a time, as one
player's device behind the load balancer, with the checks that make a
response count as a failure."""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser


class ApiUser(FastHttpUser):
    abstract = True
    # One connection at a time per simulated device (gunicorn's sync workers close it after each response).
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        player: dict[str, Any] | None,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        check: Any = None,
    ) -> Any:
        """One request; returns ``(json or None, response)`` on success, ``None`` on failure."""
        sent = {"User-Agent": "casino-bench/1"}
        if player is not None:
            sent["X-Forwarded-For"] = player["ip"]
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        kwargs: dict[str, Any] = {"name": name, "headers": sent, "catch_response": True}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        with self.client.request(method, path, **kwargs) as response:
            if response.status_code not in expect:
                text = (response.text or "")[:160] if response.status_code else str(response.error)[:160]
                response.failure(f"HTTP {response.status_code}: {text}")
                return None
            data = None
            if response.content:
                try:
                    data = response.json()
                except ValueError:
                    response.failure("not JSON")
                    return None
            problem = check(data, response) if check else None
            if problem:
                response.failure(problem)
                return None
            response.success()
            return data, response
