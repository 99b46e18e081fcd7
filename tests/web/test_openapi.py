"""``python -m parley.web.openapi``: the document the web app's API types are generated from."""

from __future__ import annotations

import json
import subprocess
import sys


def test_prints_every_service_paths_and_schemas_the_same_way_each_time() -> None:
    def dump() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "parley.web.openapi"], capture_output=True, text=True, check=True
        )
        return done.stdout

    first = dump()
    doc = json.loads(first)
    assert {"/api/v1/verify", "/api/v1/chat/all", "/api/v1/message/{chatId}"} <= set(doc["paths"])
    assert {"ChatListItem", "MessageOut", "ErrorResponse"} <= set(doc["components"]["schemas"])
    assert "/healthz" in doc["paths"]  # the web service's own
    assert dump() == first  # stable output: the committed types are compared with it
