"""Slugs for file names and anchors: readable in any script, never a path escape."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}
_MAX_LENGTH = 80
# Bytes, well under the 255 a file name may have, leaving room for `-99.md` and `.tmp` names.
_MAX_BYTES = 180


def _fit(text: str, whole: str, strip: str) -> str:
    """`text` cut to _MAX_BYTES of UTF-8, ending in a stable suffix (a hash of `whole`, the
    uncut name) when it had to be cut, so two long titles that share a beginning still get
    different names, and the same title always the same one."""
    if len(text.encode("utf-8", "surrogatepass")) <= _MAX_BYTES:
        return text
    suffix = "-" + hashlib.blake2b(whole.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
    cut = text.encode("utf-8", "surrogatepass")[: _MAX_BYTES - len(suffix)]
    return cut.decode("utf-8", "ignore").rstrip(strip) + suffix


def slugify(text: str, fallback: str = "untitled") -> str:
    """Lower-case letters and digits of any script, joined by `-`.

    Path separators, dots, control characters and punctuation all become `-`, so the result
    can never be `..`, contain `/` or `\\`, start with `.`, or be a reserved Windows name."""
    text = unicodedata.normalize("NFC", text).casefold()
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        # letters, digits and the combining marks Arabic and Indic scripts need
        kept.append(ch if category[0] in "LN" or category in ("Mn", "Mc") else "-")
    whole = re.sub(r"-{2,}", "-", "".join(kept)).strip("-")
    slug = _fit(whole[:_MAX_LENGTH].strip("-"), whole, "-")
    if not slug:
        slug = fallback
    if slug in _WINDOWS_RESERVED:
        slug = f"{slug}-{fallback}"
    return slug


def unique(slug: str, taken: set[str]) -> str:
    """slug, or slug-2, slug-3 … whichever is not taken yet; records the result."""
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    taken.add(candidate)
    return candidate


def file_stem(text: str, fallback: str = "untitled") -> str:
    """text as a file name, case and punctuation kept (for citation keys such as
    `huLoRALowRank2021` or `doi:10.1/x`): only what no file system allows becomes `-`."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join("-" if ch in '/\\:*?"<>|' or unicodedata.category(ch)[0] == "C" else ch
                   for ch in text)
    whole = re.sub(r"-{2,}", "-", kept).strip(" .-")
    stem = _fit(whole[:_MAX_LENGTH].strip(" .-"), whole, " .-")
    if not stem:
        stem = fallback
    if stem.casefold() in _WINDOWS_RESERVED:
        stem = f"{stem}-{fallback}"
    return stem
