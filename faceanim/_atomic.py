"""Write files so that a crash never leaves a half-written output behind, and never touch an input.

Every output goes to a temporary file beside its final name (``.NAME.faceanim-PID-XXXX.SUFFIX``) and is
renamed onto that name only when it is complete, so an existing file there survives any failure. The next
write into the same folder removes temporaries whose process is gone (a SIGKILL cannot clean up after
itself). Outputs get the permissions of the file they replace, or the umask's, as ``open()`` would.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import MediaError

__all__ = ["atomic_path", "write_json", "check_output", "disk_error", "TEMP_MARK"]

TEMP_MARK = ".faceanim-"
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _temp_re(path: Path) -> re.Pattern:
    return re.compile(re.escape(f".{path.name}{TEMP_MARK}") + r"(\d+)-\w+" + re.escape(path.suffix) + "$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(path: Path) -> int:
    """Delete temporaries of ``path`` left by processes that no longer run; returns how many."""
    pattern, removed = _temp_re(path), 0
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return 0
    for p in siblings:
        m = pattern.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    return removed


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide and not thread-safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def disk_error(exc: BaseException, path) -> MediaError | None:
    """A clear :class:`MediaError` for a full disk, a read-only or unwritable place; None for other errors."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc) or "disk is full" in str(exc):
        return MediaError(f"the disk is full: {path} could not be written (nothing was changed at that path). "
                          "Free some space or write somewhere else.")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return MediaError(f"{path} cannot be written here ({os.strerror(code)}); choose a folder you can write to.")
    if code == errno.EFBIG:
        return MediaError(f"{path} is larger than this file system allows; write a shorter or smaller output.")
    return None


def check_output(path: str | os.PathLike, inputs: Iterable = (), what: str = "output",
                 suffixes: Iterable[str] | None = None) -> Path:
    """Refuse, before any work starts, an output that would overwrite an input, a folder, or a place that
    cannot be written. Returns the path."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise MediaError(f"the {what} must be a file path, got {path!r}")
    out = Path(path).expanduser()
    if suffixes is not None and out.suffix.lower() not in tuple(suffixes):
        raise MediaError(f"cannot write {what} {out}: use one of {', '.join(suffixes)}")
    if out.is_dir():
        raise MediaError(f"the {what} {out} is a folder; give a file name inside it")
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            continue
        src = Path(item).expanduser()
        same = src.resolve() == out.resolve()
        if not same and src.exists() and out.exists():
            with contextlib.suppress(OSError):
                same = os.path.samefile(src, out)
        if same:
            raise MediaError(f"the {what} {out} is the same file as {src}, which this command reads or writes; "
                             f"writing it would destroy that file. Give the {what} another name.")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise MediaError(f"cannot write {what} {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MediaError(f"cannot write {what} {out}: the folder {parent} is not writable; choose another place")
    if out.exists() and not os.access(out, os.W_OK):
        raise MediaError(f"cannot write {what} {out}: the file exists and is read-only")
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so writers that pick a format from the
    extension still work. A full disk or an unwritable folder becomes a :class:`MediaError`, and the
    file already at ``path`` (if any) is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-",
                                   suffix=suffix or path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise (disk_error(exc, path) or MediaError(f"cannot write {path}: {exc.strerror or exc}")) from None
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
            mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
            os.chmod(tmp_path, mode)
            os.replace(tmp_path, path)
        except OSError as exc:
            clear = disk_error(exc, path)
            if clear is None:
                raise
            raise clear from None
    finally:
        if tmp_path.exists():
            with contextlib.suppress(OSError):
                tmp_path.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return Path(path)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
