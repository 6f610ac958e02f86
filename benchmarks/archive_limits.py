"""Cost of the archive limits (issue 16) on a normal scan ZIP: unpacking with the header checks and
byte counting but no decode, with the decode check too (what an import does), and the old plain
``ZipFile.extract`` of every image member. Interleaved A B C rounds; wall and CPU seconds (this
process: the decode threads are counted), median per variant.

    python benchmarks/archive_limits.py --n 220 --side 2600 --work /tmp/archive-bench

Builds ``scans.zip`` (wikiart-mini images upscaled and re-encoded as quality-92 JPEGs, deflated as
a museum's ZIP tool would) in ``--work``, never in the repository.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import time
import zipfile
from pathlib import Path

import common  # noqa: F401  (sys.path)
from vlkge.data import collection as C

SHARED = Path(common.ROOT).parent / "shared" / "data" / "wikiart-mini" / "images"


def build(zip_path: Path, n: int, side: int) -> None:
    from PIL import Image
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(SHARED.glob("*.jpg"))[:n]:
            im = Image.open(p).convert("RGB")
            im = im.resize((side, round(side * im.height / im.width)), Image.LANCZOS)
            tmp = zip_path.parent / "one.jpg"
            im.save(tmp, "JPEG", quality=92)
            z.write(tmp, f"scans/{p.name}")
    (zip_path.parent / "one.jpg").unlink()


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def old_extract(archive: Path, into: Path) -> int:
    with zipfile.ZipFile(archive) as z:
        members = C._image_members(z)
        for m in members:
            z.extract(m, into)
    return len(members)


def no_decode(archive: Path, into: Path) -> int:
    keep = C._drop_undecodable
    C._drop_undecodable = lambda paths, done, refuse: setattr(done, "kept", len(paths))
    try:
        return C.extract_image_archive(archive, into).kept
    finally:
        C._drop_undecodable = keep


def with_decode(archive: Path, into: Path) -> int:
    return C.extract_image_archive(archive, into).kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=220)
    ap.add_argument("--side", type=int, default=2600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default="/tmp/archive-bench")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    zp = work / "scans.zip"
    if not zp.exists():
        build(zp, a.n, a.side)
    with zipfile.ZipFile(zp) as z:
        unpacked = sum(m.file_size for m in z.infolist())
        count = len(z.infolist())
    print(f"{zp}: {count} JPEGs, {zp.stat().st_size / 1e6:.0f} MB zipped, {unpacked / 1e6:.0f} MB unpacked; "
          f"load {common.load_avg()}", flush=True)
    variants = {"old extract": old_extract, "limits, no decode": no_decode, "limits + decode": with_decode}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for r in range(a.rounds):
        for name, fn in variants.items():
            into = work / "out"
            shutil.rmtree(into, ignore_errors=True)
            into.mkdir()
            w0, c0 = time.perf_counter(), cpu()
            kept = fn(zp, into)
            times[name].append((time.perf_counter() - w0, cpu() - c0))
            assert kept == count, (name, kept)
            print(f"round {r} {name}: wall {times[name][-1][0]:.2f}s cpu {times[name][-1][1]:.2f}s", flush=True)
    shutil.rmtree(work / "out", ignore_errors=True)
    base = statistics.median(w for w, _ in times["old extract"])
    print("| variant | wall s (median) | CPU s (median) | per GB unpacked wall / CPU | vs old extract (wall) |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        w, c = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        gb = unpacked / 1e9
        print(f"| {name} | {w:.2f} | {c:.2f} | {w / gb:.1f} / {c / gb:.1f} | {w / base:.2f}x |")
    print(f"load after: {common.load_avg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
