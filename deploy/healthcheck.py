"""The image's HEALTHCHECK: GET /healthz of `connector serve` on this host, without curl.

Exit 0 when it answers 200 (the sync loop holds the run lock and the state store answers,
docs/service.md), 1 otherwise: Docker reads 0 as healthy and 1 as unhealthy (2 is reserved;
Dockerfile reference, HEALTHCHECK). The port is $CONNECTOR_SERVE__PORT, else serve's default
8080; set the port with that variable, not only in the config file, when you change it.
Standard library only: it runs with the image's Python and nothing else.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORT = 8080
TIMEOUT_SECONDS = 4.0
# No proxy: an HTTP(S)_PROXY set for the connector's API calls must not carry the probe away.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthz_url(environ: dict[str, str]) -> str:
    port = environ.get("CONNECTOR_SERVE__PORT", "").strip() or str(DEFAULT_PORT)
    return f"http://127.0.0.1:{port}/healthz"


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, str]:
    """(exit code, one line for `docker inspect`'s health log)."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return (0 if response.status == 200 else 1), f"{url}: {response.status}"
    except urllib.error.HTTPError as exc:  # 503: the loop stopped or the store is unreachable
        return 1, f"{url}: {exc.code} {exc.read(300).decode('utf-8', 'replace')}"
    except (OSError, ValueError) as exc:
        return 1, f"{url}: {exc}"


def main() -> int:
    code, line = check(healthz_url(dict(os.environ)))
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
