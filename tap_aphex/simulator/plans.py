"""Published plans: each project's weekly, immutable snapshots of its programme.

ASSUMED SHAPE. The vendor does not document the Published Plans document (its data-model page
could not be read). What is known: one JSON document per call, newest published versions, at most
six months of history, `limit` versions (default 5), and an earlier beta returned "three tables
related by task id", the first of them "Tasks" with every task of each published version. The
document built here is our design on those clues:

    {"project": {"id", "name", "externalId"},
     "publishedPlans": [  # newest first
        {"id", "version", "name", "publishedAt", "publishedBy", "comment",
         "tasks": [{"taskId", "name", "start", "end", "duration", "shift", "ownerName",
                    "ownerEmail", "subcontractor", "wbsPath", "wbsName", "externalId",
                    "packageCode", "packageName", "keyTask", "status", "notes"}],
         "statuses": [{"taskId", "date", "type", "name", "category", "value", "addedBy",
                       "createdAt"}]}]}

Each task is a fixed plan (a `_TaskSpec`) plus "incidents" (delays, on-schedule confirmations,
shortenings) dated in time. A version published at time T shows each task as it stood at T: the
incidents recorded by then, the end moved by their values, and a status derived from T. So tasks
evolve week on week (progress, delays) consistently, and any version can be rendered directly,
without replaying the versions before it: a large document stays fast to build.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .ids import DAY_MS, WEEK_MS, day_floor, random_id
from .projects import ProjectIdentity
from .vocabulary import (
    CALENDARS,
    DELAY_REASONS,
    LOCATIONS,
    PACKAGES,
    PEOPLE,
    PLAN_COMMENTS,
    SHIFTS,
    STATUS_NAMES,
    SUBCONTRACTORS,
    TRADES,
    WBS_PATHS,
)

# "There is also a hard data history limit of 6 months": 183 days before the newest version.
HISTORY_LIMIT_MS = 183 * DAY_MS
DEFAULT_LIMIT = 5
# 2025-06-06 (a Friday) 15:00 UTC: the first publication; fixed so a seed is reproducible.
FIRST_PUBLISH_MS = 1_749_222_000_000
_HOUR_MS = 60 * 60 * 1000
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


@dataclass(frozen=True)
class _Incident:
    """Something recorded against a task at `created_at`; visible in versions published after."""

    created_at: int
    date: int
    type: str
    name: str
    category: str
    value: int
    added_by: str


@dataclass(frozen=True)
class _TaskSpec:
    fixed: dict[str, Any]  # fields that never change between versions
    start: int
    duration: int
    working_days: int
    owner_email: str
    incidents: tuple[_Incident, ...]  # ordered by created_at


def _span_ms(duration: int, working_days: int) -> int:
    return math.ceil(duration * 7 / working_days) * DAY_MS


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
    ) -> None:
        if tasks < 0 or history_weeks < 0:
            raise ValueError("tasks and history_weeks must be >= 0")
        self.identity = identity
        self._seed_key = f"aphex-plans:{seed}:{index}"
        rng = random.Random(self._seed_key)
        self.account_id = random_id(rng)
        self._tokens: list[str] = []
        self._revoked: set[str] = set()
        self.issue_token()
        # Projects publish at different hours of the same weekday.
        self._first_publish_ms = FIRST_PUBLISH_MS + index * _HOUR_MS
        # The programme starts a month before the first publication and runs past the history,
        # so early versions are mostly "Not Started" and later ones mostly "Complete".
        programme_start = day_floor(self._first_publish_ms) - 4 * WEEK_MS
        programme_days = max(history_weeks + 26, 8) * 7
        self._specs = [
            self._task_spec(rng, number, programme_start, programme_days) for number in range(tasks)
        ]
        self.versions: list[PublishedVersion] = []  # oldest first
        for _ in range(history_weeks):
            self.publish()

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

    def publish(self) -> PublishedVersion:
        """Publish the next weekly version (one week after the newest)."""
        number = len(self.versions) + 1
        rng = random.Random(f"{self._seed_key}:version:{number}")
        published_at = self._first_publish_ms + (number - 1) * WEEK_MS + rng.randint(0, 3_600_000)
        version = PublishedVersion(
            id=random_id(rng),
            version=number,
            name=_week_name(published_at),
            published_at=published_at,
            published_by=rng.choice(PEOPLE)[1],
            comment=rng.choice(PLAN_COMMENTS),
        )
        self.versions.append(version)
        return version

    def visible_versions(self, limit: int) -> list[PublishedVersion]:
        """The newest `limit` versions, newest first, never older than six months."""
        if not self.versions:
            return []
        oldest_allowed = self.versions[-1].published_at - HISTORY_LIMIT_MS
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

    # ------------------------------------------------------------------------------- rendering

    def _render(self, version: PublishedVersion) -> dict[str, Any]:
        at = version.published_at
        tasks: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        for spec in self._specs:
            fixed = spec.fixed
            task_id = fixed["taskId"]
            moved = 0
            last_delay = ""
            for incident in spec.incidents:
                if incident.created_at > at:
                    break
                moved += incident.value
                if incident.type == "delay":
                    last_delay = incident.name
                statuses.append(_status_row(task_id, incident))
            duration = max(1, spec.duration + moved)
            end = spec.start + _span_ms(duration, spec.working_days)
            if end <= at:
                status = "Complete"
                completed_day = end - DAY_MS
                statuses.append(
                    {
                        "taskId": task_id,
                        "date": completed_day,
                        "type": "completed",
                        "name": STATUS_NAMES["completed"],
                        "category": "",
                        "value": 0,
                        "addedBy": spec.owner_email,
                        "createdAt": completed_day + 17 * _HOUR_MS,
                    }
                )
            elif moved > 0:
                status = "Delayed"
            elif spec.start <= at:
                status = "In Progress"
            else:
                status = "Not Started"
            notes = f"Delayed {moved} day(s), latest reason: {last_delay}" if moved > 0 else ""
            tasks.append(
                {
                    "taskId": task_id,
                    "name": fixed["name"],
                    "start": spec.start,
                    "end": end,
                    "duration": duration,
                    "shift": fixed["shift"],
                    "ownerName": fixed["ownerName"],
                    "ownerEmail": fixed["ownerEmail"],
                    "subcontractor": fixed["subcontractor"],
                    "wbsPath": fixed["wbsPath"],
                    "wbsName": fixed["wbsName"],
                    "externalId": fixed["externalId"],
                    "packageCode": fixed["packageCode"],
                    "packageName": fixed["packageName"],
                    "keyTask": fixed["keyTask"],
                    "status": status,
                    "notes": notes,
                }
            )
        return {
            "id": version.id,
            "version": version.version,
            "name": version.name,
            "publishedAt": version.published_at,
            "publishedBy": version.published_by,
            "comment": version.comment,
            "tasks": tasks,
            "statuses": statuses,
        }

    @staticmethod
    def _task_spec(
        rng: random.Random, number: int, programme_start: int, programme_days: int
    ) -> _TaskSpec:
        _calendar, working_days = rng.choice(CALENDARS)
        duration = rng.randint(3, 60)
        start = programme_start + rng.randrange(programme_days) * DAY_MS
        owner_name, owner_email = rng.choice(PEOPLE)
        wbs_path, wbs_name = rng.choice(WBS_PATHS)
        package_code, package_name = rng.choice(PACKAGES)
        fixed = {
            "taskId": random_id(rng),
            "name": f"{rng.choice(TRADES)} - {rng.choice(LOCATIONS) or 'Site'}",
            "shift": rng.choice(SHIFTS),
            "ownerName": owner_name,
            "ownerEmail": owner_email,
            "subcontractor": rng.choice(SUBCONTRACTORS),
            "wbsPath": wbs_path,
            "wbsName": wbs_name,
            "externalId": f"ACT-{number + 1:05d}" if rng.random() < 0.6 else "",
            "packageCode": package_code,
            "packageName": package_name,
            "keyTask": rng.random() < 0.1,
        }
        planned_end = start + _span_ms(duration, working_days)
        incidents: list[_Incident] = []
        if rng.random() < 0.45:
            # Incidents are recorded before the planned end (less two days), so a task that shows
            # "Complete" in one version never reopens in a later one: delays only push the end
            # out, and a shortening of one day cannot pull it back before the incident itself.
            for _ in range(rng.randint(1, 3)):
                created_at = rng.randint(start - 7 * DAY_MS, planned_end - 2 * DAY_MS)
                incidents.append(_random_incident(rng, created_at, start))
            incidents.sort(key=lambda incident: incident.created_at)
            # Only the last incident may shorten, so the running end never drops below the
            # creation time of a later incident.
            incidents[:-1] = [i for i in incidents[:-1] if i.type != "shortened"]
            if incidents[-1].type == "shortened" and duration <= 1:
                incidents.pop()
        return _TaskSpec(
            fixed=fixed,
            start=start,
            duration=duration,
            working_days=working_days,
            owner_email=owner_email,
            incidents=tuple(incidents),
        )


def _random_incident(rng: random.Random, created_at: int, task_start: int) -> _Incident:
    kind = rng.choices(("delay", "onSchedule", "shortened"), weights=(70, 20, 10))[0]
    if kind == "delay":
        name, category = rng.choice(DELAY_REASONS)
        value = rng.randint(1, 5)
    else:
        name, category = STATUS_NAMES[kind], ""
        value = -1 if kind == "shortened" else 0
    return _Incident(
        created_at=created_at,
        date=max(task_start, day_floor(created_at)),
        type=kind,
        name=name,
        category=category,
        value=value,
        added_by=rng.choice(PEOPLE)[1],
    )


def _status_row(task_id: str, incident: _Incident) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "date": incident.date,
        "type": incident.type,
        "name": incident.name,
        "category": incident.category,
        "value": incident.value,
        "addedBy": incident.added_by,
        "createdAt": incident.created_at,
    }


class PublishedPlans:
    """All projects' published plans, with serialized documents cached. Thread-safe."""

    def __init__(
        self,
        seed: int,
        identities: list[ProjectIdentity],
        *,
        tasks: int = 40,
        history_weeks: int = 26,
    ) -> None:
        self._lock = threading.RLock()
        self._projects: dict[str, ProjectPlans] = {}
        for index, identity in enumerate(identities):
            project = ProjectPlans(seed, index, identity, tasks=tasks, history_weeks=history_weeks)
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

    def _require(self, account_id: str) -> ProjectPlans:
        project = self.get(account_id)
        if project is None:
            raise KeyError(f"unknown plans account id: {account_id!r}")
        return project

    def accepts(self, account_id: str, token: str) -> bool:
        with self._lock:
            return self._require(account_id).accepts(token)

    def publish(self, account_id: str) -> PublishedVersion:
        with self._lock:
            return self._require(account_id).publish()

    def expire_tokens(self, account_id: str) -> None:
        with self._lock:
            self._require(account_id).expire_tokens()

    def issue_token(self, account_id: str) -> str:
        with self._lock:
            return self._require(account_id).issue_token()

    def document(self, account_id: str, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
        """The document as a fresh dict (the ground truth for tests)."""
        parsed: dict[str, Any] = json.loads(self.document_bytes(account_id, limit))
        return parsed

    def document_bytes(self, account_id: str, limit: int = DEFAULT_LIMIT) -> bytes:
        """The serialized document, built once per (account, newest version, limit)."""
        with self._lock:
            project = self._require(account_id)
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
