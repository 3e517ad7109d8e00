"""Published plans: each project's weekly, immutable snapshots of its programme, and its tokens.

ASSUMED SHAPE. The vendor does not document the Published Plans document (its "Data Model"
section could not be read). What is known: one JSON document per call, newest published versions,
"a hard data history limit of 6 months", `limit` versions (default 5), and an earlier beta
returned "three tables related by task id", the first of them "Tasks" with every task of each
published version. The document built here is our design on those clues:

    {"project": {"id", "name", "externalId"},
     "publishedPlans": [  # newest first
        {"id", "version", "name", "publishedAt", "publishedBy", "comment",
         "tasks": [{"taskId", "name", "start", "end", "duration", "shift", "ownerName",
                    "ownerEmail", "subcontractor", "wbsPath", "wbsName", "externalId",
                    "packageCode", "packageName", "keyTask", "status", "notes"}],
         "statuses": [{"taskId", "date", "type", "name", "category", "value", "addedBy",
                       "createdAt"}]}]}

How each task evolves between versions is in `plan_render.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from .ids import DAY_MS, HOUR_MS, WEEK_MS, day_floor, random_id
from .plan_render import task_spec
from .plan_variations import PlanVariations
from .projects import ProjectIdentity
from .variations import Variation
from .vocabulary import PEOPLE, PLAN_COMMENTS

# "There is also a hard data history limit of 6 months": 183 days before the newest version.
HISTORY_LIMIT_MS = 183 * DAY_MS
DEFAULT_LIMIT = 5  # `limit`: "how many historical published versions" (default 5)
# 2025-06-06 (a Friday) 15:00 UTC: the first publication; fixed so a seed is reproducible.
FIRST_PUBLISH_MS = 1_749_222_000_000
_T = TypeVar("_T")
_DOCUMENT_CACHE_ENTRIES = 4  # documents can be 32 MB each: keep only a few


@dataclass(frozen=True)
class PlanProject:
    """A project as a client of the Published Plans API sees it: its URL and a valid token."""

    account_id: str
    token: str
    name: str
    url: str


@dataclass(frozen=True)
class PublishedVersion:
    """One publication of a project's plan (the metadata; its tasks are rendered on demand)."""

    id: str
    version: int
    name: str
    published_at: int
    published_by: str
    comment: str
    numbered: bool = True  # False: its `version` is null in the document (a vendor's slip)


def _week_name(epoch_ms: int) -> str:
    year, week, _ = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.timezone.utc).isocalendar()
    return f"Week {year}-W{week:02d}"


class ProjectPlans:
    """One project's published-plan history and tokens. Not thread-safe on its own."""

    def __init__(
        self,
        seed: int,
        index: int,
        identity: ProjectIdentity,
        *,
        tasks: int,
        history_weeks: int,
        variations: Collection[str] = (),
    ) -> None:
        if tasks < 0 or history_weeks < 0:
            raise ValueError("tasks and history_weeks must be >= 0")
        self.identity = identity
        self._seed_key = f"aphex-plans:{seed}:{index}"
        rng = random.Random(self._seed_key)
        self.account_id = random_id(rng)
        # "Tokens are generated individually for a Project"; a project may have several.
        self._tokens: list[str] = []
        self._revoked: set[str] = set()
        self.issue_token()
        # Projects publish at different hours of the same weekday.
        self._first_publish_ms = FIRST_PUBLISH_MS + index * HOUR_MS
        # The programme starts a month before the first publication and runs past the history,
        # so early versions are mostly "Not Started" and later ones mostly "Complete".
        programme_start = day_floor(self._first_publish_ms) - 4 * WEEK_MS
        programme_days = max(history_weeks + 26, 8) * 7
        self._specs = [
            task_spec(rng, number, programme_start, programme_days) for number in range(tasks)
        ]
        self.versions: list[PublishedVersion] = []  # oldest first
        for _ in range(history_weeks):
            self.publish()
        self.variations = PlanVariations(variations, history_weeks, self.account_id)

    # ---------------------------------------------------------------------------------- tokens

    @property
    def token(self) -> str:
        """The most recently issued token (which may since have been expired)."""
        return self._tokens[-1]

    def issue_token(self) -> str:
        rng = random.Random(f"{self._seed_key}:token:{len(self._tokens)}")
        token = "pbi_" + random_id(rng, 40)
        self._tokens.append(token)
        return token

    def expire_tokens(self) -> None:
        """Expire (or revoke) every token issued so far; they answer 401 from now on."""
        self._revoked.update(self._tokens)

    def accepts(self, token: str) -> bool:
        return token in self._tokens and token not in self._revoked

    # -------------------------------------------------------------------------------- versions

    def publish(
        self, *, same_time: bool = False, at_ms: int | None = None, numbered: bool = True
    ) -> PublishedVersion:
        """Publish the next weekly version (one week after the newest).

        ``same_time``: at the very millisecond of the newest instead (two publications that
        share a `publishedAt`: a client must tell versions apart by id, not by time). ``at_ms``:
        at that time instead (a clock gone wrong: before the newest, or years ahead). ``numbered``:
        False writes its `version` as null.
        """
        number = len(self.versions) + 1
        rng = random.Random(f"{self._seed_key}:version:{number}")
        published_at = self._first_publish_ms + (number - 1) * WEEK_MS + rng.randint(0, 3_600_000)
        if same_time and self.versions:
            published_at = self.versions[-1].published_at
        if at_ms is not None:
            published_at = at_ms
        version = PublishedVersion(
            id=random_id(rng),
            version=number,
            name=_week_name(published_at),
            published_at=published_at,
            published_by=rng.choice(PEOPLE)[1],
            comment=rng.choice(PLAN_COMMENTS),
            numbered=numbered,
        )
        self.versions.append(version)
        return version

    def visible_versions(self, limit: int) -> list[PublishedVersion]:
        """The newest `limit` versions, newest first, never older than six months (before the
        newest version that is not in the future: a server's clock, which a version's
        `publishedAt` from a clock gone wrong does not move)."""
        if not self.versions:
            return []
        now_ms = time.time() * 1000
        past = [v.published_at for v in self.versions if v.published_at <= now_ms]
        oldest_allowed = max(past or [self.versions[-1].published_at]) - HISTORY_LIMIT_MS
        recent = [v for v in reversed(self.versions) if v.published_at >= oldest_allowed]
        return recent[:limit]

    def document(self, limit: int) -> dict[str, Any]:
        return {
            "project": {
                "id": self.identity.id,
                "name": self.identity.name,
                "externalId": self.identity.external_id,
            },
            "publishedPlans": [self._render(version) for version in self.visible_versions(limit)],
        }

    def variations_in(self, limit: int) -> list[Variation]:
        """The variations in the document for `limit` (once it has been rendered)."""
        planted = self.variations.planted
        return [v for ver in self.visible_versions(limit) for v in planted.get(ver.version, [])]

    def _render(self, version: PublishedVersion) -> dict[str, Any]:
        tasks: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        for spec in self._specs:
            row, status_rows = spec.rows_at(version.published_at)
            tasks.append(row)
            statuses.extend(status_rows)
        rendered = {
            "id": version.id,
            "version": version.version,
            "name": version.name,
            "publishedAt": version.published_at,
            "publishedBy": version.published_by,
            "comment": version.comment,
            "tasks": tasks,
            "statuses": statuses,
        }
        ids = {v.version: v.id for v in self.versions}
        varied = self.variations.vary(rendered, ids)
        if not version.numbered:
            varied["version"] = None
        return varied


class PublishedPlans:
    """All projects' published plans, with serialized documents cached. Thread-safe."""

    def __init__(
        self,
        seed: int,
        identities: list[ProjectIdentity],
        *,
        tasks: int,
        history_weeks: int,
        variations: Collection[str] = (),
    ) -> None:
        self._lock = threading.RLock()
        self._projects: dict[str, ProjectPlans] = {}
        for index, identity in enumerate(identities):
            # Surprises go to the first project only: the others show a healthy neighbour.
            project = ProjectPlans(
                seed,
                index,
                identity,
                tasks=tasks,
                history_weeks=history_weeks,
                variations=variations if index == 0 else (),
            )
            self._projects[project.account_id] = project
        # (account_id, newest version number, limit) -> serialized document. The key changes
        # when a version is published, so a cached document is never stale.
        self._cache: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()

    @property
    def projects(self) -> list[ProjectPlans]:
        with self._lock:
            return list(self._projects.values())

    def get(self, account_id: str) -> ProjectPlans | None:
        with self._lock:
            return self._projects.get(account_id)

    def require(self, account_id: str) -> ProjectPlans:
        """The project (KeyError for an unknown account id)."""
        project = self.get(account_id)
        if project is None:
            raise KeyError(f"unknown plans account id: {account_id!r}")
        return project

    def act(self, account_id: str, action: Callable[[ProjectPlans], _T]) -> _T:
        """`action(project)` under the lock (KeyError for an unknown account id)."""
        with self._lock:
            return action(self.require(account_id))

    def document(self, account_id: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """The document as a fresh dict (the ground truth for tests)."""
        parsed: dict[str, Any] = json.loads(self.document_bytes(account_id, limit))
        return parsed

    def document_bytes(self, account_id: str, limit: int = DEFAULT_LIMIT) -> bytes:
        """The serialized document, built once per (account, newest version, limit)."""
        with self._lock:
            project = self.require(account_id)
            newest = len(project.versions)
            # Limits past the history all give the same document: share one cache entry.
            key = (account_id, newest, min(limit, newest))
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            # Building under the lock is deliberate: concurrent first requests for the same
            # 32 MB document would otherwise each build it.
            body = json.dumps(project.document(limit), separators=(",", ":")).encode()
            self._cache[key] = body
            while len(self._cache) > _DOCUMENT_CACHE_ENTRIES:
                self._cache.popitem(last=False)
            return body
