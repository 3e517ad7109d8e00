"""The portfolio floor: each project's document fetched by a bare thread pool, nothing else.

python benchmarks/portfolio_floor.py THREADS PROJECTS.json > sink

PROJECTS.json is the simulator's project list (url, token). One `requests.get` per project on
THREADS threads, each body read whole and dropped: the least any tap could wait.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

with open(sys.argv[2]) as listing:
    threads, projects = int(sys.argv[1]), json.load(listing)


def fetch(project: dict[str, str]) -> int:
    headers = {"Authorization": "Bearer " + project["token"]}
    response = requests.get(project["url"], headers=headers, params={"limit": 5}, timeout=300)
    response.raise_for_status()
    return len(response.content)


with ThreadPoolExecutor(threads) as pool:
    total = sum(pool.map(fetch, projects))
sys.stdout.write(f"{total}\n")
