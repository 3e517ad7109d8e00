"""The Published Plans (Power BI) endpoint: `GET /power-bi/v1/<account_id>`.

Traceable to "Published Plans (Power BI) API" (quoted below); the document itself is assumed
(see `plans.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

from .faults import PLAN_FAULTS, FaultQueue, replacing_response, stalled
from .plans import DEFAULT_LIMIT, PublishedPlans
from .responses import Response, error_response
from .settings import DEFAULT_MAX_RESPONSE_BYTES, SimulatorSettings
from .variations import ServedVariations

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "PLANS_PREFIX", "PublishedPlansApi", "bearer_token"]

PLANS_PREFIX = "/power-bi/v1/"  # "app.aphex.co/power-bi/v1/<api_account_id>" (aphex-apis.md)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class PublishedPlansApi:
    """Answers published-plans requests. Thread-safe."""

    def __init__(
        self, plans: PublishedPlans, settings: SimulatorSettings, served: ServedVariations
    ) -> None:
        self.plans = plans
        self.settings = settings
        self._served = served
        self._faults = {project.account_id: FaultQueue(PLAN_FAULTS) for project in plans.projects}

    def faults(self, account_id: str) -> FaultQueue:
        """The fault queue of one project (KeyError if unknown)."""
        return self._faults[account_id]

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one request, after `plans_latency_seconds`. `headers` keys are lower-case."""
        response = self._answer(method, path, query, headers)
        # Every answer waits, refusals included: the latency is the upstream's, not the document's.
        # The server waits in the request's own thread, so concurrent requests wait side by side;
        # a stall fault waits on top of it.
        response.delay_seconds += self.settings.plans_latency_seconds
        return response

    def _answer(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        if method != "GET":
            return error_response(403, "Forbidden: only GET is allowed")
        # "set the Token in the Authorization header ... Bearer followed by your Token"
        token = bearer_token(headers.get("authorization"))
        if token is None:
            return error_response(401, "Unauthorized: a Bearer token is required")
        account_id = path[len(PLANS_PREFIX) :]
        if not account_id or "/" in account_id or self.plans.get(account_id) is None:
            return error_response(404, "Not Found")
        # "requests to the API will only succeed if they ... include both a valid URL and Token"
        if not self.plans.act(account_id, lambda project: project.accepts(token)):
            return error_response(401, "Unauthorized: the token is invalid, expired or revoked")

        fault = self._faults[account_id].pop()
        if fault is not None:
            replaced = replacing_response(fault)
            if replaced is not None:
                return replaced

        # Other parameters are ignored, not refused: the vendor has at least one more whose
        # name we do not know, so a client may legitimately send it.
        values = query.get("limit", [str(DEFAULT_LIMIT)])
        if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
            return error_response(400, "Bad Request: limit must be a positive integer")
        limit = int(values[0])
        if limit < 1:
            return error_response(400, "Bad Request: limit must be a positive integer")

        if self.settings.plans_max_limit:  # a server that caps `limit` and says nothing
            limit = min(limit, self.settings.plans_max_limit)
        body = self.plans.document_bytes(account_id, limit)
        if len(body) > self.settings.max_response_bytes:
            # "If you experience a server error, please try reducing your data request by
            # passing in query parameters."
            response = error_response(500, "Internal Server Error")
        else:
            self._served.mark(self.plans.act(account_id, lambda p: p.variations_in(limit)))
            response = Response(status=200, body=body)
        return stalled(response, fault, self.settings.stall_seconds)
