"""HTTP sessions for the worker's outbound calls (Drift, the CRM): one pooled session per
client, reused across events, with requests' own retries off (retries are decided by each
client, which knows what is safe to repeat)."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def pooled_session(pool_size: int = 16) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
