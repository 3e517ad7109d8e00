"""The Published Plans (Power BI) endpoint: `GET /power-bi/v1/<account_id>`."""

from __future__ import annotations

from collections.abc import Mapping

from .faults import PLAN_FAULTS, FaultQueue, replacing_response
from .plans import DEFAULT_LIMIT, PublishedPlans
from .responses import Response, error_response

PLANS_PREFIX = "/power-bi/v1/"
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # "a response limit of 32Mb exists"


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
        self,
        plans: PublishedPlans,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        stall_seconds: float = 5.0,
    ) -> None:
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be >= 1")
        self.plans = plans
        self.max_response_bytes = max_response_bytes
        self.stall_seconds = stall_seconds
        self._faults = {project.account_id: FaultQueue(PLAN_FAULTS) for project in plans.projects}

    def faults(self, account_id: str) -> FaultQueue:
        """The fault queue of one project (KeyError if unknown)."""
        return self._faults[account_id]

    def handle(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Response:
        """Answer one request. `headers` keys are lower-case."""
        if method != "GET":
            return error_response(403, "Forbidden: only GET is allowed")
        token = bearer_token(headers.get("authorization"))
        if token is None:
            return error_response(401, "Unauthorized: a Bearer token is required")
        account_id = path[len(PLANS_PREFIX) :]
        project = self.plans.get(account_id) if account_id and "/" not in account_id else None
        if project is None:
            return error_response(404, "Not Found")
        if not self.plans.accepts(account_id, token):
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

        body = self.plans.document_bytes(account_id, limit)
        if len(body) > self.max_response_bytes:
            # The vendor: "If you experience a server error, please try reducing your data
            # request by passing in query parameters."
            response = error_response(500, "Internal Server Error")
        else:
            response = Response(status=200, body=body)
        if fault is not None:  # "stall"
            response.fault = fault.kind
            stall = fault.stall_seconds
            response.delay_seconds = self.stall_seconds if stall is None else stall
        return response
