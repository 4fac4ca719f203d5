"""Rule-set versions: a version is the content hash of the mapping files that affect scoring
(`SCORING_FILES`, sorted by name, each hashed as its name and its bytes), so the same files
give the same version on any machine, whatever their timestamps. The state store records
each version it meets (`sync.score_store.ScoreStore.record_version`) with who, when and why.

Swapping the live files (`score promote`, `score rollback`) replaces two files, and no
filesystem renames two files atomically. So a swap is journalled: the replaced files are kept
in `.versions/<version>/`, the new ones staged in `.versions/.incoming/`, then a journal
(`.versions/swap.json`) is written (the commit point), then each staged file is renamed over
its live one (`os.replace`: atomic per file on POSIX), the event is recorded in the state
store, and the journal goes. A crash between the renames leaves the journal: the next run or
`score` command (under the run lock) finishes the renames and records the event once
(`finish_swap`); if the staged files are gone or altered, it puts the kept files back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.config import Settings
from core.errors import ConfigError
from scoring import Rules, load_rules, validate_rules

log = logging.getLogger("connector.sync")

# The files of a rule set: what `scoring.load_rules` reads.
SCORING_FILES = ("scoring.toml", "segments.toml")
VERSION_LENGTH = 12  # hex digits of the sha256 shown and stored
VERSIONS_FOLDER = ".versions"  # inside the mappings folder: the files each swap replaced
STAGING = ".incoming"  # inside VERSIONS_FOLDER: a swap's new files before their renames
JOURNAL = "swap.json"  # inside VERSIONS_FOLDER: the swap under way (crash recovery)


@dataclass(frozen=True, slots=True)
class RuleFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class RuleSetVersion:
    version: str
    files: tuple[RuleFile, ...]

    def manifest(self) -> list[dict[str, object]]:
        return [{"name": f.name, "sha256": f.sha256, "bytes": f.size} for f in self.files]


def fingerprint(folder: Path) -> RuleSetVersion:
    """The version of the rule files in `folder`; ConfigError naming a file that cannot be
    read."""
    total = hashlib.sha256()
    files = []
    for name in sorted(SCORING_FILES):
        path = folder / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        total.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        files.append(RuleFile(name, hashlib.sha256(data).hexdigest(), len(data)))
    return RuleSetVersion(total.hexdigest()[:VERSION_LENGTH], tuple(files))


# ------------------------------------------------------------------ swapping the live files
@dataclass(frozen=True, slots=True)
class Swap:
    """One change of the live rule files (`promote` or `rollback`), as its journal says."""

    id: str  # unique per swap: the version event's key (recorded once)
    action: str  # "promote" | "rollback"
    version: str  # what becomes live
    previous: str  # what it replaces (its files kept in .versions/<previous>/)
    at: datetime
    by: str
    reason: str
    manifest: tuple[dict[str, object], ...]  # the new version's files
    previous_manifest: tuple[dict[str, object], ...]

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "action": self.action, "version": self.version,
                "previous": self.previous, "at": self.at.isoformat(), "by": self.by,
                "reason": self.reason, "manifest": list(self.manifest),
                "previous_manifest": list(self.previous_manifest)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Swap:
        return cls(
            id=data["id"], action=data["action"], version=data["version"],
            previous=data["previous"], at=datetime.fromisoformat(data["at"]), by=data["by"],
            reason=data["reason"], manifest=tuple(data["manifest"]),
            previous_manifest=tuple(data["previous_manifest"]),
        )


def kept_folder(folder: Path, version: str) -> Path:
    """Where the files of `version` are kept once a swap replaced them."""
    return folder / VERSIONS_FOLDER / version


def begin_swap(source: Path, folder: Path, swap: Swap) -> None:
    """Prepare replacing `folder`'s rule files by `source`'s: keep the live ones in
    `.versions/<previous>/`, stage the new ones in `.versions/.incoming/` (each written and
    fsynced), then write the journal, the commit point: from then on `apply_swap` (this
    command's, or the next run's or command's after a crash) finishes the swap."""
    keep = kept_folder(folder, swap.previous)
    keep.mkdir(parents=True, exist_ok=True)
    for name in SCORING_FILES:
        if (folder / name).exists():
            _write_atomic(keep / name, (folder / name).read_bytes())
    staging = folder / VERSIONS_FOLDER / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in SCORING_FILES:
        _write_atomic(staging / name, (source / name).read_bytes())
    _write_atomic(folder / VERSIONS_FOLDER / JOURNAL,
                  json.dumps(swap.as_json(), ensure_ascii=False, indent=1).encode())


def pending_swap(folder: Path) -> Swap | None:
    """The swap a journal says is under way (or was interrupted); None when none is."""
    path = folder / VERSIONS_FOLDER / JOURNAL
    try:
        return Swap.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: unreadable rule swap journal ({exc}); restore the rule "
                          f"files from {folder / VERSIONS_FOLDER} and delete it") from None


def apply_swap(folder: Path) -> tuple[Swap, bool] | None:
    """Finish the journal's swap: rename each staged file over its live one (a file already
    renamed before a crash is skipped). When the live files then are not the journal's new
    version (a staged file lost or altered), put the kept previous files back instead.
    Returns the swap and whether it completed (False: rolled back); None without a journal.
    The journal stays until `end_swap`, after the caller recorded the event."""
    swap = pending_swap(folder)
    if swap is None:
        return None
    staging = folder / VERSIONS_FOLDER / STAGING
    for name in SCORING_FILES:
        if (staging / name).exists():
            os.replace(staging / name, folder / name)
    _fsync_dir(folder)
    if fingerprint(folder).version == swap.version:
        return swap, True
    keep = kept_folder(folder, swap.previous)
    for name in SCORING_FILES:
        _write_atomic(folder / name, (keep / name).read_bytes())
    return swap, False


def end_swap(folder: Path) -> None:
    """The swap is done and recorded: the journal and the staging folder go."""
    (folder / VERSIONS_FOLDER / JOURNAL).unlink(missing_ok=True)
    shutil.rmtree(folder / VERSIONS_FOLDER / STAGING, ignore_errors=True)


class SwapLog(Protocol):
    """Where a finished swap is recorded (`sync.score_store.ScoreStore`)."""

    def record_swap(self, swap: Swap) -> None: ...


def finish_swap(folder: Path, scores: SwapLog) -> tuple[Swap, bool] | None:
    """Finish (or roll back) a begun swap and record it as a version event (once, by the
    swap's id); None when no swap was under way. Call under the run lock."""
    done = apply_swap(folder)
    if done is None:
        return None
    swap, completed = done
    if completed:
        scores.record_swap(swap)
    else:
        log.warning("an interrupted rule swap could not be finished: the previous rule files "
                    "were put back", extra={"version": swap.version, "kept": swap.previous})
    end_swap(folder)
    return done


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def shadow_folder(settings: Settings) -> Path | None:
    """The `[shadow] rules_dir` folder, resolved beside the config file; None when unset."""
    folder = settings.shadow.rules_dir
    return None if folder is None else settings.resolve(folder)


def shadow_problems(folder: Path) -> list[str]:
    """Why the shadow folder cannot run (file:line each); [] when it loads as a rule set."""
    if not folder.is_dir():
        return [f"shadow.rules_dir: {folder}: folder not found"]
    return validate_rules(folder)


def load_shadow(folder: Path) -> tuple[Rules, RuleSetVersion]:
    """The shadow rule set and its version; ConfigError listing every problem."""
    problems = shadow_problems(folder)
    if problems:
        raise ConfigError(
            f"shadow rules in {folder} ([shadow] rules_dir) have {len(problems)} problem(s)",
            problems,
        )
    return load_rules(folder), fingerprint(folder)
