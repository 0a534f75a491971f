"""The weights a config needs: where each comes from, whether it is here and verified, and fetching what is missing.

The table (:data:`SOURCES`) is docs/models.md's "Where the weights come from" in
code: per model type its released files, the address each is published at
(``None``: no direct address, a manual step named instead: a gated or a Google
Drive download), and a SHA-256 where one is published (none of these models
publishes one).

``stseg weights --configfile my-config.yaml`` lists, per configured model, the
file it reads (``options.checkpoint``), its source, and whether it is present and
verified: against the published checksum, or, where none is published, against
the ``<file>.sha256`` recorded when it was fetched.

``stseg weights fetch --configfile my-config.yaml`` downloads each missing file
from its address to the configured path (or, for a model without one, into the
cache folder, ``$STSEG_WEIGHTS`` or ``~/.cache/stseg/weights``, and says which
path to configure).  A download goes to ``.<file>.partial`` beside the target
and resumes from there (an HTTP range request) when a connection dropped; it is
checked against its size and the checksum (the table's, or one the mirror
publishes as ``<file>.sha256``), and only then renamed to its name, with its
SHA-256 recorded beside it: a half-written or corrupt file is never used.
``--mirror URL`` fetches from another server holding the same file names.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import StsegError

__all__ = ["SOURCES", "Source", "WeightsError", "fetch", "needed_weights", "sha256_of", "status"]


class WeightsError(StsegError, OSError):
    """A download that failed or did not verify."""


@dataclass(frozen=True)
class Source:
    """Where a model's released files come from."""

    files: tuple[str, ...]
    url: str | None  #: the address template (``{file}``), or None where a person must fetch it
    manual: str = ""  #: the step for a person, where there is no direct address
    sha256: Mapping[str, str] | None = None  #: published checksums (file -> hex)


SOURCES: dict[str, Source] = {
    "sam2": Source(("sam2.1_hiera_tiny.pt", "sam2.1_hiera_small.pt", "sam2.1_hiera_base_plus.pt", "sam2.1_hiera_large.pt"),
                   "https://dl.fbaipublicfiles.com/segment_anything_2/092824/{file}"),
    "cutie": Source(("cutie-base-mega.pth", "cutie-small-mega.pth"),
                    "https://github.com/hkchengrex/Cutie/releases/download/v1.0/{file}"),
    "xmem": Source(("XMem.pth", "XMem-s012.pth", "XMem-with-mose.pth"),
                   "https://github.com/hkchengrex/XMem/releases/download/v1.0/{file}"),
    "edgetam": Source(("edgetam.pt",), "https://github.com/facebookresearch/EdgeTAM/raw/main/checkpoints/{file}"),
    "sam3": Source(("sam3.pt",), None, "gated: accept the licence on https://huggingface.co/facebook/sam3, then "
                   "`hf download facebook/sam3 sam3.pt` and set models.<name>.options.checkpoint to it"),
    "livos": Source(("livos-nomose-480p.pth", "livos-nomose-ft-480p.pth", "livos-wmose-480p.pth"), None,
                    "Google Drive: run `python download.py` in the LiVOS checkout (it uses gdown)"),
    "tmo": Source(("TMO_rn101.pth",), None, "Google Drive: the 'Pre-trained model (rn101)' link of TMO's README"),
}


def cache_folder() -> Path:
    return Path(os.environ.get("STSEG_WEIGHTS", Path.home() / ".cache" / "stseg" / "weights")).expanduser()


@dataclass(frozen=True)
class Needed:
    """One configured model's weights file."""

    model: str
    type: str
    path: Path
    file: str
    source: Source
    configured: bool  #: options.checkpoint names it (else: the cache folder's copy)


def needed_weights(config: Mapping[str, Any]) -> list[Needed]:
    """The weights files a (validated) config's models read: each model with a published source, by its
    ``options.checkpoint`` or, without one, the default file of its type in the cache folder; a model fine-tuned by
    a run reads the run's checkpoint, which stseg writes."""
    found = []
    for name, entry in config["models"].items():
        kind = entry.get("type", name)
        source = SOURCES.get(kind)
        if source is None or entry.get("finetuned"):
            continue
        checkpoint = (entry.get("options") or {}).get("checkpoint")
        path = Path(checkpoint).expanduser() if checkpoint else cache_folder() / _default_file(kind, entry, source)
        found.append(Needed(name, kind, path, path.name, source, checkpoint is not None))
    for run, entry in (config.get("finetune") or {}).items():
        kind = entry.get("model", "sam2")
        init = entry.get("init_checkpoint")
        if init and kind in SOURCES:
            path = Path(init).expanduser()
            found.append(Needed(f"finetune.{run}", kind, path, path.name, SOURCES[kind], True))
    return found


def _default_file(kind: str, entry: Mapping[str, Any], source: Source) -> str:
    size = (entry.get("options") or {}).get("size")
    if kind == "sam2" and size:
        return f"sam2.1_hiera_{size}.pt"
    return source.files[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recorded(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def status(item: Needed) -> str:
    """``present, verified`` (the published or recorded checksum matches), ``present, not verified`` (no checksum
    to compare with), ``present, CHECKSUM MISMATCH``, or ``missing``."""
    if not item.path.is_file():
        return "missing"
    expected = (item.source.sha256 or {}).get(item.file)
    if expected is None and _recorded(item.path).is_file():
        expected = _recorded(item.path).read_text().split()[0]
    if expected is None:
        return "present, not verified (no checksum published; none recorded)"
    return "present, verified" if sha256_of(item.path) == expected else "present, CHECKSUM MISMATCH"


def _url(item: Needed, mirror: str | None) -> str | None:
    """Where to fetch a file: the mirror's copy or its published address; none for a file a person must fetch (a
    gated or Google Drive one)."""
    if item.source.url is None:
        return None
    if mirror:
        return mirror.rstrip("/") + "/" + item.file
    return item.source.url.format(file=item.file) if item.file in item.source.files else None


def _published_checksum(item: Needed, url: str, mirror: str | None) -> str | None:
    if (item.source.sha256 or {}).get(item.file):
        return (item.source.sha256 or {})[item.file]
    if not mirror:
        return None
    try:
        with urllib.request.urlopen(url + ".sha256", timeout=30) as response:
            return response.read().decode().split()[0]
    except (urllib.error.URLError, OSError, IndexError):
        return None


def fetch(item: Needed, mirror: str | None = None, attempts: int = 5, timeout: float = 60.0) -> str:
    """Download one missing file (module docstring); what was done, for a person.  Raises :class:`WeightsError`."""
    if item.path.is_file():
        return f"{item.path}: present"
    url = _url(item, mirror)
    if url is None:
        step = item.source.manual or f"{item.file} is not one of the released files of {item.type}"
        raise WeightsError(f"{item.model}: {item.path} cannot be fetched here: {step}.")
    item.path.parent.mkdir(parents=True, exist_ok=True)
    partial = item.path.with_name(f".{item.path.name}.partial")
    total = None
    for _ in range(attempts):
        have = partial.stat().st_size if partial.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if have and response.status != 206:  # the server ignored the range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with open(partial, "ab" if have else "wb") as out:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
        except urllib.error.HTTPError as error:
            if error.code == 416 and have:  # asked past the end: the partial is whole
                break
            raise WeightsError(f"{item.model}: {url}: HTTP {error.code} ({error.reason}); nothing was kept.") from None
        except (urllib.error.URLError, OSError, ConnectionError):
            continue  # dropped: resume from what arrived
        size = partial.stat().st_size
        if total is None or size >= total:
            break
    else:
        raise WeightsError(f"{item.model}: {url}: the download did not complete in {attempts} attempts; "
                           f"{partial} is kept and the next `stseg weights fetch` resumes it.")
    size = partial.stat().st_size
    if total is not None and size != total:
        raise WeightsError(f"{item.model}: {url}: {size} bytes arrived of {total}; {partial} is kept and the next "
                           "`stseg weights fetch` resumes it.")
    digest = sha256_of(partial)
    expected = _published_checksum(item, url, mirror)
    if expected is not None and digest != expected:
        partial.unlink()
        raise WeightsError(f"{item.model}: {url}: SHA-256 {digest} is not the published {expected}; the download was "
                           "removed. Try again, or fetch it by hand.")
    os.replace(partial, item.path)
    _recorded(item.path).write_text(f"{digest}  {item.path.name}\n")
    where = "" if item.configured else f"; set models.{item.model}.options.checkpoint: {item.path}"
    return f"{item.path}: fetched from {url} ({size} bytes, SHA-256 {digest[:16]}...{' verified' if expected else ''}){where}"


def listing(items: Sequence[Needed]) -> str:
    """The ``stseg weights`` table, one line per file."""
    lines = []
    for item in items:
        source = item.source.url.format(file=item.file) if item.source.url else item.source.manual
        lines.append(f"{item.model:<16} {item.type:<8} {status(item):<44} {item.path}\n{'':<26}from {source}")
    return "\n".join(lines) + ("\n" if lines else "no model of this config needs released weights\n")
