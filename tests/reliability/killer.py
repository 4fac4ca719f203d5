"""Run the real `connector` CLI, but SIGKILL the process right after its k-th HTTP response
(or just before its k-th request) — the moments where a crash hurts most. Test-only: the
wrapper patches urllib3, through which both hubspot-api-client and requests (simple-salesforce)
send every call; nothing in the product knows about it.

    python -c "import tests.reliability.killer as k; k.main()" KILL_AT before|after ARGS...
    python -c "import tests.reliability.killer as k; k.run()" ARGS...   (not killed)

Both read RELIABILITY_NOW (ISO 8601): when set, the command's clock (`cli._command_clock`)
reads that moment, so runs that are compared score at the same `now` (see `pin_clock`).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime

import urllib3.connectionpool


def pin_clock() -> None:
    """With RELIABILITY_NOW set, the run's clock stops at that moment. Scores decay with the
    time since each activity, so two runs that score the same lead a minute apart can write
    scores that differ by one after rounding: the kill test compares runs made minutes apart
    and must hold time still to compare what the guarantee is about (nothing lost, nothing
    twice), not how much time passed between them."""
    moment = os.environ.get("RELIABILITY_NOW")
    if not moment:
        return
    import cli
    from core.clock import fixed_clock

    frozen = fixed_clock(datetime.fromisoformat(moment))
    cli._command_clock = lambda: frozen  # the entry's clock, as `CONNECTOR_NOW` would set it


def run() -> None:
    pin_clock()
    sys.argv = ["connector", *sys.argv[1:]]
    import cli

    cli.main()


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
    pin_clock()
    sys.argv = ["connector", *args]
    import cli

    cli.main()
