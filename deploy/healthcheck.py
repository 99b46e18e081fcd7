"""The container health check: GET a path (default ``/healthz``) on this container's Parley service.

The port is ``$PORT`` when set, else the ``--port`` the service was started with, else that
service's default port (read from the command line of process 1, ``parley serve <service>``).
Exit status 0 when the service answers 200, 1 otherwise. Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_PORTS = {"user": 5000, "mail": 5001, "chat": 5002, "web": 3000}


def service_port(argv: list[str]) -> int:
    """The port of ``parley serve <service> [--port N]`` (or ``parley up``) from its arguments."""
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    if "serve" in argv:
        rest = argv[argv.index("serve") + 1 :]
        for arg in rest:
            if arg in DEFAULT_PORTS:
                return DEFAULT_PORTS[arg]
    return DEFAULT_PORTS["web"]


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
    port_env = os.environ.get("PORT")
    if port_env:
        port = int(port_env)
    else:
        try:
            raw = Path("/proc/1/cmdline").read_bytes()
        except OSError:
            raw = b""
        port = service_port([a.decode(errors="replace") for a in raw.split(b"\0") if a])
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if not ok:
        print(f"{url}: HTTP {response.status}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
