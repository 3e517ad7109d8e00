"""The organisation's projects, shared by the Data API log and the Published Plans API."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .ids import random_id
from .vocabulary import PROJECT_NAMES


@dataclass(frozen=True)
class ProjectIdentity:
    """Who a project is: the same project keeps the same id and name in both APIs."""

    id: str
    name: str
    external_id: str


def project_identities(seed: int, count: int) -> list[ProjectIdentity]:
    """`count` projects, deterministic from `seed`; names repeat with a phase suffix past 12."""
    rng = random.Random(f"aphex-projects:{seed}")
    names = list(PROJECT_NAMES)
    rng.shuffle(names)
    identities = []
    for index in range(count):
        name = names[index % len(names)]
        if index >= len(names):
            name = f"{name} Phase {index // len(names) + 1}"
        identities.append(
            ProjectIdentity(id=random_id(rng), name=name, external_id=f"PRJ-{1000 + index}")
        )
    return identities
