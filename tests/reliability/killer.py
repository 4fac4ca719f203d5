"""Run the real `connector` CLI, but SIGKILL the process right after its k-th HTTP response
(or just before its k-th request) — the moments where a crash hurts most. Test-only: the
wrapper patches urllib3, through which both hubspot-api-client and requests (simple-salesforce)
send every call; nothing in the product knows about it.

    python -c "import tests.reliability.killer as k; k.main()" KILL_AT before|after ARGS...
"""

from __future__ import annotations

import os
import signal
import sys

import urllib3.connectionpool


def main() -> None:
    kill_at, when, *args = sys.argv[1:]
    remaining = {"calls": int(kill_at)}
    original = urllib3.connectionpool.HTTPConnectionPool.urlopen
    # KILL_COUNT_PORT=N: count only the calls to that port (say, the Salesforce sandbox's).
    only_port = os.environ.get("KILL_COUNT_PORT")

    def urlopen(self, method, url, *a, **kw):  # type: ignore[no-untyped-def]
        if only_port is not None and str(self.port) != only_port:
            return original(self, method, url, *a, **kw)
        remaining["calls"] -= 1
        if remaining["calls"] == 0 and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        response = original(self, method, url, *a, **kw)
        if remaining["calls"] == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return response

    urllib3.connectionpool.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
    sys.argv = ["connector", *args]
    import cli

    cli.main()
