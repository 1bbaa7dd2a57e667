"""The trust boundary on the file system: what kb may read and where it may write.

A vault is data, possibly someone else's. kb reads only regular files inside the vault (a
symlink only when its target stays inside), and writes only inside the vault's notes,
articles and `.kb/` folders, checked after resolving symlinks. Everything here works on the
real (resolved) paths, so neither `..`, an absolute path in kb.toml nor a symlink can lead
outside. docs/trust.md says the same for users."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kb.errors import KbError, printable

# A file system allows 255 bytes per name on nearly every platform.
NAME_MAX_BYTES = 255


class UnsafePathError(KbError):
    """A path would lead outside the folder kb may use."""


class NotReadableError(KbError):
    """A file kb may not or cannot read as a note (not regular, too large, outside the vault)."""


def is_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True when the real `path` is `folder` or inside it (both resolved; `folder` should be)."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def confined(root: Path, folder: Path, relative: str = "") -> Path:
    """`folder / relative`, resolved, refusing anything whose real path leaves `folder` or the
    vault `root` (a `..`, an absolute path, or a symlink on the way). `folder` itself may not
    be a symlink out of the vault either."""
    base = folder.resolve()
    if not is_inside(base, root):
        raise UnsafePathError(f"refusing to use {printable(str(folder))}: it resolves to "
                              f"{printable(str(base))}, outside the vault {printable(str(root))}")
    target = (base / relative).resolve() if relative else base
    if relative and (target == base or not is_inside(target, base)):
        raise UnsafePathError(f"refusing to write {printable(relative)!r}: it is outside "
                              f"{printable(str(folder))}")
    return target


def state_file(root: Path, name: Path) -> Path:
    """A file of kb's own state in the vault (`.kb/cache.sqlite`, `.kb/runs.json`…), refusing a
    `.kb/` or file that a symlink takes out of the vault: a vault someone else wrote cannot aim
    kb's writes elsewhere."""
    return confined(root, root / name.parent, name.name)


def read_regular_file(path: str, limit: int, *, follow: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Never blocks on a FIFO or device
    and never reads more than `limit` + 1 bytes, whatever the file claims to be."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadableError(f"not a regular file ({describe_mode(info.st_mode)})")
        if info.st_size > limit:
            raise NotReadableError(too_large(info.st_size, limit))
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # it grew while being read
            raise NotReadableError(too_large(len(data), limit))
        return data
    finally:
        os.close(fd)


def describe_mode(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def too_large(size: int, limit: int) -> str:
    return (f"{size:,} bytes, over the limit of {limit:,} for one note; skipped "
            "(raise `max_note_bytes` in kb.toml if it really is a note)")


def is_utf8_name(name: str) -> bool:
    """False for a name holding bytes that were not UTF-8 (kept by Python as surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
