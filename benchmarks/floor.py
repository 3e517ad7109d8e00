"""The floor: the simplest extractor of the task-event log, nothing but requests + json copying.

python benchmarks/floor.py EVENTS_URL API_KEY PAGE_SIZE > sink
"""

import json
import sys

import requests

url, key, page_size = sys.argv[1:4]
session, params, last = requests.Session(), {"pageSize": page_size}, None
session.headers["x-api-key"] = key
while (response := session.get(url, params=params, timeout=300)).status_code == 200:
    page = response.json()
    for event in page["data"]:
        sys.stdout.write(json.dumps({"type": "RECORD", "stream": "task_events", "record": event}))
        sys.stdout.write("\n")
    last = params["startAfter"] = page["nextStartAfter"]
response.raise_for_status()  # the end of the log is a 204; anything else is no measurement
state = {"bookmarks": {"task_events": {"replication_key_value": last}}}
sys.stdout.write(json.dumps({"type": "STATE", "value": state}) + "\n")
