"""Where `connector report`'s DuckDB copy of the KPI facts lives on disk (`sync.kpi_mirror`),
and its deletion: beside a SQLite state file, `<state file>.kpi.duckdb` and its WAL. Apart
from the copy itself so that the erasure (`sync.erasure_store`) can delete the file without
importing DuckDB or the copy's code.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

COPY_SUFFIX = ".kpi.duckdb"


def copy_path(state_path: Path) -> Path:
    """Where the on-disk copy of a SQLite state file's facts lives."""
    return state_path.with_name(state_path.name + COPY_SUFFIX)


def discard_copy(state_path: Path | None) -> None:
    """Delete the on-disk copy of `state_path`'s facts and its WAL (nothing when there is
    none). An open copy keeps working on its unlinked file until it closes. A file that
    cannot be deleted is named in an error log line (it may hold an erased person's rows:
    delete it by hand); the next report replaces it anyway (a new facts generation)."""
    if state_path is None:
        return
    try:
        discard_copy_file(copy_path(state_path))
    except OSError as exc:
        log.error("KPI copy %s could not be deleted (%s): delete it by hand",
                  copy_path(state_path), exc.strerror or type(exc).__name__)


def discard_copy_file(path: Path) -> None:
    for name in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            name.unlink()
