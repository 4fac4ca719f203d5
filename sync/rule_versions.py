"""Rule-set versions: a version is the content hash of the mapping files that affect scoring
(`SCORING_FILES`, sorted by name, each hashed as its name and its bytes), so the same files
give the same version on any machine, whatever their timestamps. The state store records
each version it meets (`sync.score_store.ScoreStore.record_version`) with who, when and why.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError
from scoring import Rules, load_rules, validate_rules

# The files of a rule set: what `scoring.load_rules` reads.
SCORING_FILES = ("scoring.toml", "segments.toml")
VERSION_LENGTH = 12  # hex digits of the sha256 shown and stored


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


def replace_rule_files(source: Path, target: Path, keep: Path) -> list[Path]:
    """Copy the rule files of `source` over those of `target`, each atomically (written
    beside it, then renamed over it), after copying `target`'s current ones into `keep`
    (created) so the change can be undone. Returns the files written."""
    keep.mkdir(parents=True, exist_ok=True)
    for name in SCORING_FILES:
        if (target / name).exists():
            _write_atomic(keep / name, (target / name).read_bytes())
    written = []
    for name in SCORING_FILES:
        _write_atomic(target / name, (source / name).read_bytes())
        written.append(target / name)
    return written


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
