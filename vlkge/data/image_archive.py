"""Unpacking a ZIP of a collection's scans within named limits, keeping only decodable images."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .images import open_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


# Limits on unpacking one ZIP of scans (costs measured in benchmarks/RESULTS.md, "Archive limits").
# A real scan is at most a few hundred MB and deflates little (JPEG, PNG, compressed TIFF); a bomb
# is tiny and deflates thousands of times. Headers are checked first, then every byte is counted.
ARCHIVE_MAX_MEMBERS = 100_000  # entries of any kind; more is refused before anything is unpacked
ARCHIVE_MAX_FILE_BYTES = 200 << 20  # one unpacked image
ARCHIVE_MAX_TOTAL_BYTES = 8 << 30  # everything unpacked from one archive: the disk one import may fill
ARCHIVE_MAX_RATIO = 100  # unpacked / compressed size of one member ...
ARCHIVE_RATIO_FREE_BYTES = 1 << 20  # ... above this size (blank PNGs and thumbnails deflate far more)

REFUSED = {  # why a member was refused: (one, several), as the warning says it
    "decode": ("not a decodable image", "not decodable images"),
    "file": ("over the per-file limit", "over the per-file limit"),
    "ratio": ("over the compression-ratio limit", "over the compression-ratio limit"),
    "total": ("over the total limit", "over the total limit"),
    "damaged": ("damaged", "damaged"),
}


@dataclass
class Unpacked:
    """What :func:`extract_image_archive` kept and refused."""

    kept: int = 0
    bytes: int = 0  # unpacked bytes kept on disk
    refused: dict[str, int] = field(default_factory=dict)  # REFUSED key -> members

    def warning(self, archive: str) -> str:
        """One line counting the refused members ("" when none were)."""
        n = sum(self.refused.values())
        if not n:
            return ""
        why = ", ".join(f"{k} {REFUSED[r][k > 1]}" for r, k in self.refused.items())
        return f"archive {archive}: {n} member{'s' * (n > 1)} refused ({why})"


def _image_members(z) -> list:
    return [m for m in z.infolist() if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith((".", "__MACOSX")) for part in Path(m.filename).parts)]


def _member_path(into: Path, name: str) -> Path | None:
    """Where member ``name`` goes inside ``into``: absolute, drive and ``..`` parts dropped, as
    ``zipfile`` does."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and ":" in parts[0]:
        parts = parts[1:]
    return into.joinpath(*parts) if parts else None


def _header_refusal(m, room: int) -> str:
    """Why the sizes ``m``'s header declares are refused ("" if they are not)."""
    if m.file_size > ARCHIVE_MAX_FILE_BYTES:
        return "file"
    if m.file_size > ARCHIVE_RATIO_FREE_BYTES and m.file_size > ARCHIVE_MAX_RATIO * max(m.compress_size, 1):
        return "ratio"
    return "total" if m.file_size > room else ""


def _copy_member(z, m, dest: Path, room: int) -> tuple[int, str]:
    """Stream member ``m`` to ``dest``, counting bytes: the header is not trusted. (bytes, "") or
    (0, refusal) with nothing left on disk."""
    import zipfile
    import zlib
    limit = min(ARCHIVE_MAX_FILE_BYTES, room, max(ARCHIVE_RATIO_FREE_BYTES, ARCHIVE_MAX_RATIO * m.compress_size))
    n, why = 0, ""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with z.open(m) as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 20):
                n += len(chunk)
                if n > limit:
                    why = "total" if limit == room else "file"
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        why = "damaged"  # bad CRC, unsupported method, encrypted
    if why:
        dest.unlink(missing_ok=True)
        return 0, why
    return n, ""


def extract_image_archive(archive: Path, into: Path) -> Unpacked:
    """Unpack the image files of a ZIP archive (a collection's scans) into the folder ``into``,
    keeping their folders. Other files, macOS resource forks and hidden files are left out; member
    names cannot reach outside ``into``. A member over the ARCHIVE_* limits (size, compression
    ratio, the running total) or that does not decode as an image is refused and counted, so at
    most ARCHIVE_MAX_TOTAL_BYTES is ever written. Raises DataError naming the
    archive when it is not a ZIP, is damaged, has more than ARCHIVE_MAX_MEMBERS entries or holds
    no usable image."""
    import zipfile
    done = Unpacked()

    def refuse(why: str) -> None:
        done.refused[why] = done.refused.get(why, 0) + 1

    kept: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as z:
            if len(z.infolist()) > ARCHIVE_MAX_MEMBERS:
                raise DataError(archive, f"{len(z.infolist()):,} entries; at most {ARCHIVE_MAX_MEMBERS:,} "
                                         "are unpacked (split the archive)")
            members = _image_members(z)
            if not members:
                raise DataError(archive, f"no image files in the archive ({', '.join(sorted(IMAGE_SUFFIXES))})")
            for m in members:
                dest = _member_path(into, m.filename)
                room = ARCHIVE_MAX_TOTAL_BYTES - done.bytes
                why = _header_refusal(m, room) if dest is not None else "damaged"
                n, why = (0, why) if why else _copy_member(z, m, dest, room)
                if why:
                    refuse(why)
                    continue
                done.bytes += n
                kept.append(dest)
    except zipfile.BadZipFile as e:
        raise DataError(archive, "not a ZIP archive" if "not a zip file" in str(e).lower() else f"damaged ({e})") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError) as e:
        raise DataError(archive, f"cannot be unpacked ({e})") from None
    _drop_undecodable(kept, done, refuse)
    if not done.kept:
        raise DataError(archive, f"no usable image files in the archive: {done.warning(archive.name).split(': ', 1)[1]}")
    return done


def _drop_undecodable(paths: list[Path], done: Unpacked, refuse) -> None:
    """Decode every unpacked member as `vlkge validate` does; delete those that fail."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:  # PIL decodes without the GIL
        problems = list(pool.map(lambda p: open_image(p, max_side=256)[1], paths))
    for p, problem in zip(paths, problems):
        if problem:
            done.bytes -= p.stat().st_size
            p.unlink()
            refuse("decode")
        else:
            done.kept += 1

