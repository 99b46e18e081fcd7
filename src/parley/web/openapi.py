"""``python -m parley.web.openapi``: print the merged OpenAPI document of ``parley up``.

The web app generates its TypeScript API types from this output, so it must not depend on the
machine: no database is opened and no service is started, only the apps are built.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any


def merged_openapi() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves when every service runs in one process."""
    from parley.core.settings import get_settings
    from parley.web.gateway import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.setdefault("PARLEY_DATA_DIR", data_dir)
        get_settings.cache_clear()
        gateway = create_app(get_settings(), embedded=("user", "chat", "mail"))
        return gateway.web.openapi()


def main() -> None:
    json.dump(merged_openapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
