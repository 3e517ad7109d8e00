"""The SDK's floor: the task-event log read by the smallest singer-sdk tap, with no reader (each
event goes out as the API sent it), to tell what the SDK itself costs per record.

- as the SDK's template makes a tap: a `RESTStream` with declared JSONPaths, the SDK's paginator,
  its default JSON decoding (numbers as Decimal), type conformance and writer;
- ``--tuned``: with the one-line settings tap-aphex keeps (msgspec decode of each page, once: the
  paginator reads the cursor from that decode, as the tap's does; type conformance off; the SDK's
  msgspec writer), so that what is left is the SDK's per-record path.

python benchmarks/sdk_floor.py EVENTS_URL API_KEY PAGE_SIZE [--tuned] > sink
"""

from __future__ import annotations

import sys
import typing as t

import msgspec
from singer_sdk import Tap
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import JSONPathPaginator
from singer_sdk.streams import RESTStream

from tap_aphex.schemas import TASK_EVENT

TUNED = "--tuned" in sys.argv


def decoded(response: t.Any) -> dict[str, t.Any]:
    """The page, decoded by msgspec once for both the records and the cursor."""
    if not hasattr(response, "page"):
        response.page = msgspec.json.decode(response.content)
    return t.cast("dict[str, t.Any]", response.page)


class DecodedOncePaginator(JSONPathPaginator):
    def get_next(self, response: t.Any) -> t.Any:
        return next(extract_jsonpath(self._jsonpath, decoded(response)), None)


class Events(RESTStream[t.Any]):
    name = "task_events"
    path = ""
    primary_keys: t.ClassVar[list[str]] = ["eventId"]
    replication_key = "eventId"
    is_sorted = True
    check_sorted = False
    schema = TASK_EVENT
    records_jsonpath = "$.data[*]"
    next_page_token_jsonpath = "$.nextStartAfter"
    if TUNED:
        TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @property
    def url_base(self) -> str:
        return str(self.config["url"])

    @property
    def authenticator(self) -> APIKeyAuthenticator:
        return APIKeyAuthenticator(key="x-api-key", value=self.config["key"], location="header")

    def get_new_paginator(self) -> JSONPathPaginator:
        paginator = DecodedOncePaginator if TUNED else JSONPathPaginator
        return paginator(self.next_page_token_jsonpath)

    def get_url_params(self, context: t.Any, next_page_token: t.Any) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"pageSize": self.config["page_size"]}
        if next_page_token:
            params["startAfter"] = next_page_token
        return params

    def parse_response(self, response: t.Any) -> t.Iterable[dict[str, t.Any]]:
        if response.status_code == 204:  # the end of the log: "No Data"
            return iter(())
        if TUNED:
            events: list[dict[str, t.Any]] = decoded(response)["data"]
            return events
        return super().parse_response(response)


class SdkFloor(Tap):
    name = "sdk-floor"
    config_jsonschema: t.ClassVar[dict[str, t.Any]] = {"type": "object", "properties": {}}
    if TUNED:
        message_writer_class = MsgSpecWriter

    def discover_streams(self) -> list[Events]:
        return [Events(self)]


if __name__ == "__main__":
    url, key, page_size = sys.argv[1:4]
    SdkFloor(config={"url": url, "key": key, "page_size": int(page_size)}).sync_all()
