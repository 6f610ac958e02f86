"""Fetch the authors' released benchmark files (github.com/thefth/vl-kge, stored in Git LFS).

Files come from ``https://media.githubusercontent.com/media/thefth/vl-kge/main/<path>`` (override with
``base_url`` or ``$VLKGE_DOWNLOAD_BASE``), land in ``DEST`` in the layout the published readers
detect, resume over HTTP Range from a ``.part`` file, and are checked against the manifest's SHA-256
where known. Where it is not, the hash seen on the first download is recorded in a ``.sha256``
sidecar and later downloads must match it. urllib only, no extra dependency.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import VLKGEError

DEFAULT_BASE = "https://media.githubusercontent.com/media/thefth/vl-kge/main"
CHUNK = 1 << 16
TIMEOUT = 30


@dataclass(frozen=True)
class RemoteFile:
    path: str                # inside the authors' repository
    local: str               # inside DEST
    sha256: str | None = None
    size: int | None = None
    feature: bool = False    # large precomputed features: only with features=True


def _files(folder: str, stem: str, meta: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    base = f"vlkge/data/{folder}"
    out = [RemoteFile(f"{base}/{stem}_triples.csv", f"{stem}_triples.csv")]
    out += [RemoteFile(f"{base}/{m}", m) for m in meta]
    out += [RemoteFile(f"{base}/features/{stem}_{k}_clip.pkl", f"features/{stem}_{k}_clip.pkl", feature=True)
            for k in ("vf", "tf")]
    return tuple(out)


# Checksums are not published next to the files; None means "record on first download".
MANIFEST: dict[str, tuple[RemoteFile, ...]] = {
    "wn9-img": _files("wn9_img", "wn9_img", ()),
    "wikiart-mkg-v1": _files("wikiart_mkg_v1", "wikiart_mkg_v1", ("wikiart_v1.csv",)),
    "wikiart-mkg-v2": _files("wikiart_mkg_v2", "wikiart_mkg_v2",
                             ("wikiart_v2_artworks.csv", "wikiart_v2_artists.csv")),
}


def download(name: str, dest: Path, base_url: str | None = None, progress: bool = True,
             features: bool = False, retries: int = 3) -> Path:
    """Download dataset ``name`` (wn9-img, wikiart-mkg-v1, wikiart-mkg-v2) into ``dest``; returns
    ``dest``. Complete files that verify are not fetched again; ``features=True`` adds the CLIP
    feature pickles (large)."""
    if name not in MANIFEST:
        raise VLKGEError(f"unknown dataset {name!r} (choose from {', '.join(MANIFEST)})")
    base = (base_url or os.environ.get("VLKGE_DOWNLOAD_BASE") or DEFAULT_BASE).rstrip("/")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in MANIFEST[name]:
        if f.feature and not features:
            continue
        url = f"{base}/{urllib.parse.quote(f.path)}"
        fetch(url, dest / f.local, sha256=f.sha256, size=f.size, progress=progress, retries=retries,
              dest_hint=dest)
    return dest


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, target: Path, sha256: str | None = None, size: int | None = None,
          progress: bool = True, retries: int = 3, dest_hint: Path | None = None) -> Path:
    """Download ``url`` to ``target`` via ``target.part`` with Range resume, then verify."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sidecar = target.with_name(target.name + ".sha256")
    expected = sha256 or (sidecar.read_text().split()[0] if sidecar.is_file() else None)
    if target.is_file():
        if expected is None or sha256_file(target) == expected:
            if expected is None:
                sidecar.write_text(f"{sha256_file(target)}  {target.name}\n")
            return target
        target.unlink()  # stale or corrupt: fetch again
    part = target.with_name(target.name + ".part")
    attempt = 0
    while True:
        try:
            _transfer(url, part, size, progress, target.name)
            break
        except (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError) as e:
            attempt += 1
            if attempt > retries:
                raise VLKGEError(f"{url}: download interrupted ({type(e).__name__}); "
                                 f"run again to resume from {part.name}") from None
            time.sleep(min(2.0, 0.2 * attempt))
        except urllib.error.HTTPError as e:
            raise VLKGEError(f"{url}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            host = urllib.parse.urlsplit(url).netloc
            where = dest_hint or target.parent
            raise VLKGEError(f"cannot reach {host}: no network ({_reason(e)}); copy the files by hand "
                             f"into {where} (see README)") from None
    got = sha256_file(part)
    if expected is not None and got != expected:
        part.unlink()
        raise VLKGEError(f"{target.name}: checksum mismatch (expected sha256 {expected[:16]}…, got "
                         f"{got[:16]}…); the partial download was deleted — run again, or check the source")
    if size is not None and part.stat().st_size != size:
        part.unlink()
        raise VLKGEError(f"{target.name}: size mismatch (expected {size} bytes)")
    os.replace(part, target)
    if expected is None:
        sidecar.write_text(f"{got}  {target.name}\n")
    return target


def _reason(e: urllib.error.URLError) -> str:
    r = e.reason
    return getattr(r, "strerror", None) or str(r)


def _transfer(url: str, part: Path, size: int | None, progress: bool, label: str) -> None:
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "vlkge"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left past our offset: the .part is complete
            return
        raise
    with resp:
        if have and resp.status != 206:
            have = 0  # the server ignored Range: start over
        total = _total(resp, have)
        from tqdm import tqdm
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=total or size, initial=have, unit="B", unit_scale=True, desc=label,
                     disable=not progress, leave=False) as bar:
            first = not have
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                if first and chunk.startswith(b"version https://git-lfs"):
                    raise VLKGEError(f"{url}: got a Git LFS pointer, not the file; use the media URL")
                first = False
                out.write(chunk)
                bar.update(len(chunk))
    if total and part.stat().st_size < total:
        raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def _total(resp, have: int) -> int | None:
    cr = resp.headers.get("Content-Range")
    if cr and "/" in cr and cr.rsplit("/", 1)[1].strip().isdigit():
        return int(cr.rsplit("/", 1)[1])
    cl = resp.headers.get("Content-Length")
    return have + int(cl) if cl and cl.isdigit() else None
