"""Opaque random identifiers and the day arithmetic both APIs' data share.

Everything is drawn from a seeded RNG, so every run is reproducible.
"""

from __future__ import annotations

import math
import random
import string

# Aphex ids look like Firestore document ids: 20 characters of [A-Za-z0-9]. They are random, so
# they are NOT sortable; the simulator keeps them random on purpose so that a client which tries
# to use "the largest id" as a position fails its tests.
ID_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 20

DAY_MS = 24 * 60 * 60 * 1000
WEEK_MS = 7 * DAY_MS
HOUR_MS = 60 * 60 * 1000


def random_id(rng: random.Random, length: int = ID_LENGTH) -> str:
    """A random [A-Za-z0-9] id of `length` characters."""
    return "".join(rng.choices(ID_ALPHABET, k=length))


def day_floor(epoch_ms: int) -> int:
    """Midnight UTC of the day containing `epoch_ms` (Aphex dates are whole days in epoch ms)."""
    return epoch_ms - epoch_ms % DAY_MS


def calendar_span_ms(duration: int, working_days: int) -> int:
    """Calendar time taken by `duration` working days on a `working_days`-a-week calendar."""
    return math.ceil(duration * 7 / working_days) * DAY_MS
