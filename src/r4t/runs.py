"""Run-directory layout, fingerprints and atomic writes.

Every cached artefact lives in a folder named by a hash of what made it (config
section + fingerprints of its inputs), so a changed config rebuilds only what
changed and a half-written folder is never mistaken for a finished one: writers
fill a temporary sibling and rename it into place as the last step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Iterator


def stable_json(obj: Any) -> str:
    """Canonical JSON used for hashing and for byte-identical outputs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def config_hash(*parts: Any, length: int = 12) -> str:
    """Short sha256 of the canonical JSON of ``parts``."""
    return hashlib.sha256(stable_json(list(parts)).encode()).hexdigest()[:length]


def path_key(path: str | Path, root: str | Path) -> str:
    """A folder as a part of a cache key, the same however the run dir is spelled: its path under
    ``root`` (the cache) when it is there, else its absolute path when it exists, else the text
    itself (a hub id). ``runs/music`` and ``/home/me/runs/music`` then name one cache."""
    folder, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))  # lexical: the folder need not exist yet
    if folder.is_relative_to(base):
        return folder.relative_to(base).as_posix()
    return str(Path(path).resolve()) if Path(path).exists() else str(path)


def cached_or_legacy(current: Path, legacy: Path) -> Path:
    """``current``, unless only ``legacy`` exists: the folder an older r4t named by the run dir's
    spelling. Caches (and half-finished runs that resume) made before a key change stay found."""
    return legacy if legacy != current and legacy.exists() and not current.exists() else current


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


FAILPOINT_ENV = "R4T_FAILPOINT"


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``R4T_FAILPOINT`` equals ``name``.

    The crash-and-resume tests (tests/reliability/) use this to die at an exact point
    -- mid-embedding, after an RL checkpoint, after a shard, at an epoch start -- which a
    timer-based kill could not hit reliably. SIGKILL runs no cleanup, so what survives is
    what a power cut would leave. A no-op unless the variable is set.
    """
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temp folder; on success rename it to ``final`` (replacing nothing half-done).

    If ``final`` already exists (another process finished first) the new copy is
    discarded. On error the temp folder is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        failpoint(f"atomic_dir:{final.parent.name}")  # contents written, not yet renamed
        if final.exists():
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write JSON via a temp file + rename so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
