"""Files lenet-viz will write, checked before any work starts, so a run never ends in "cannot save".

Why: a headless run can take hours; discovering at the end that `--save-checkpoint` names a
folder, a read-only filesystem or a 300-character name loses all of it.  And an output that
is also an input (`--metrics` naming the checkpoint being resumed) would destroy the input.
Torch-free and Qt-free: the command line and the app can both use it.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot (or must not) be written; the message is one line naming it."""


def check_writable(path: str | os.PathLike[str], option: str, *, replace: bool = False) -> Path:
    """Return `path` if `option` can write it; else OutputPathError saying why, in one line.

    `replace`: the file is written beside and renamed into place (checkpoints), so its folder
    must accept new files and an existing target must be a regular file (never /dev/null).
    The check leaves nothing behind: an existing file is opened for appending, unchanged;
    a new name is created and removed again, which is the only test every filesystem answers
    truthfully (read-only mounts, name length limits, permissions, even as root).
    """
    shown = os.fspath(path)
    target = Path(shown).expanduser()

    def refuse(why: str) -> OutputPathError:
        return OutputPathError(f"cannot write {option} file {shown}: {why}")

    if shown.endswith(("/", os.sep)):
        raise refuse("it names a folder, not a file")
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        raise refuse(f"{_first_file_above(target)} is a file, not a folder") from None
    except OSError as e:
        raise refuse(_why(e, target)) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise refuse("it is a folder")
    if mode is not None and replace and not stat.S_ISREG(mode):
        raise refuse("it is not a regular file (a device or pipe cannot be replaced by a saved file)")
    folder = target.parent
    if not folder.is_dir():
        raise refuse("its folder does not exist")
    exact = mode is None and not target.is_symlink()  # a dangling link: writing creates its target
    probe = target if exact else folder / f".{target.name[:200]}.{uuid.uuid4().hex[:8]}.probe"
    try:
        if mode is not None:
            os.close(os.open(target, os.O_WRONLY | os.O_APPEND))
        if mode is None or replace:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.unlink(probe)
    except OSError as e:
        raise refuse(_why(e, target)) from None
    return target


def check_distinct(outputs: Mapping[str, str], inputs: Mapping[str, str],
                   allowed: frozenset[tuple[str, str]] = frozenset()) -> None:
    """OutputPathError if an output is also an input, or two outputs are one file.

    `outputs` and `inputs` map option (or a description) to path.  `allowed` lists
    (output, input) pairs that may be the same file, e.g. saving a resumed checkpoint in place.
    """
    seen: list[tuple[str, str]] = []
    for option, path in outputs.items():
        for other, other_path in [*seen, *inputs.items()]:
            if (option, other) not in allowed and _same_file(path, other_path):
                kind = "input" if other in inputs else "output"
                raise OutputPathError(f"cannot write {option} file {path}: it is also the {other} {kind} "
                                      f"{other_path}; writing one would destroy the other")
        seen.append((option, path))


def _same_file(a: str, b: str) -> bool:
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    try:
        return os.path.samefile(pa, pb)  # symlinks and hard links too
    except OSError:
        return pa.absolute() == pb.absolute()


def _first_file_above(target: Path) -> Path:
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return target.parent


def _why(e: OSError, target: Path) -> str:
    if e.errno == errno.ENOENT:  # the folder exists (checked above) but will not take new files (/proc)
        return "its folder does not accept new files"
    if e.errno == errno.ENAMETOOLONG:
        return f"the file name is too long ({len(os.fsencode(target.name)):,} bytes; most filesystems allow 255)"
    return e.strerror or str(e)
