"""Generator of the bad-input corpus used by test_bad_input.py and test_interruptions.py.

Everything is written into a caller-provided (temporary) folder; nothing here is committed data.
Each CSV case is a function ``case(folder) -> Expect`` that writes a small graph folder and says
what the product must do with it: a fatal error naming FILE[:LINE], or acceptance.
"""
from __future__ import annotations

import io
import os
import pickle
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

HEADER_E = "id,type,label,description,image"
HEADER_T = "head,relation,tail,mode"


@dataclass
class Expect:
    file: str | None          # basename expected in the error line; None = accepted
    line: int | None = None   # expected line number (None: the error names no line)
    words: str = ""           # a fragment the message must contain (lower case)


def _entities(rows: list[str]) -> str:
    return "\n".join([HEADER_E, *rows]) + "\n"


BASE_E = ["a,artwork,A,,", "b,artwork,B,,", "s,style,S,,", "x,artist,X,,"]
BASE_T = ["a,hasStyle,s,train", "b,hasStyle,s,train", "a,by,x,train", "b,by,x,val", "s,styleOf,x,test"]


def write(folder: Path, entities: str | bytes | None, triples: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (("entities.csv", entities), ("triples.csv", triples)):
        if content is None:
            continue
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def good(folder: Path) -> Path:
    return write(folder, _entities(BASE_E), "\n".join([HEADER_T, *BASE_T]) + "\n")


# ------------------------------------------------------------------ fatal CSV cases
# (each returns the Expect; line numbers are 1-based physical lines)

def bad_entities_header(f):
    write(f, "identifier,type,label\na,artwork,A\n", "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 1, "missing column")


def bad_triples_header(f):
    write(f, _entities(BASE_E), "head,relation,mode\na,hasStyle,train\n")
    return Expect("triples.csv", 1, "tail")


def duplicate_entity_id(f):
    write(f, _entities(BASE_E[:2] + ["a,artwork,again,,"] + BASE_E[2:]), "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 4, "duplicate")


def unknown_entity(f):
    write(f, _entities(BASE_E), "\n".join([HEADER_T, *BASE_T[:3], "a,by,ghost,train", *BASE_T[3:]]))
    return Expect("triples.csv", 5, "ghost")


def zero_byte_entities(f):
    write(f, b"", "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 1, "empty")


def zero_byte_triples(f):
    write(f, _entities(BASE_E), b"")
    return Expect("triples.csv", 1, "empty")


def header_only_entities(f):
    write(f, HEADER_E + "\n", "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", None, "no entities")


def header_only_triples(f):
    write(f, _entities(BASE_E), HEADER_T + "\n")
    return Expect("triples.csv", None, "no triples")


def non_utf8_entities(f):
    data = _entities(BASE_E).encode("utf-8").replace(b"b,artwork,B", b"b,artwork,B\xe9\xff")
    write(f, data, "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 3, "utf-8")


def latin1_triples(f):
    write(f, _entities(BASE_E), ("\n".join([HEADER_T, *BASE_T, "a,peint_par_é,x,train"]) + "\n").encode("latin-1"))
    return Expect("triples.csv", 7, "utf-8")


def nul_bytes(f):
    write(f, _entities(BASE_E), ("\n".join([HEADER_T, *BASE_T[:2]]) + "\n").encode() + b"a,by\x00,x,train\n")
    return Expect("triples.csv", 4, "nul")


def too_few_fields(f):
    write(f, _entities(BASE_E), "\n".join([HEADER_T, *BASE_T[:4], "a,by", *BASE_T[4:]]))
    return Expect("triples.csv", 6, "fields")


def unknown_mode(f):
    write(f, _entities(BASE_E), "\n".join([HEADER_T, *BASE_T, "b,by,x,holdout"]))
    return Expect("triples.csv", 7, "mode")


def empty_head(f):
    write(f, _entities(BASE_E), "\n".join([HEADER_T, *BASE_T[:1], ",by,x,train", *BASE_T[1:]]))
    return Expect("triples.csv", 3, "empty")


def empty_entity_id(f):
    write(f, _entities(BASE_E + [",artwork,nameless,,"]), "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 6, "empty entity id")


def no_training_triples(f):
    write(f, _entities(BASE_E), "\n".join([HEADER_T, "a,by,x,test", "b,by,x,val"]))
    return Expect("triples.csv", None, "no training")


def oversized_field(f):
    # 2 MB in one cell: over the 1 MB field limit -> malformed CSV at that line
    write(f, _entities(BASE_E[:3] + ["x,artist,X," + "z" * (2 << 20) + ","]), "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 5, "csv")


def unterminated_quote(f):
    # An opening quote that never closes swallows every later row into one cell: silently
    # losing the rest of the file would be worse than failing on the line where it starts.
    rows = BASE_E[:1] + ['b,artwork,"B the unclosed,,'] + BASE_E[2:]
    write(f, _entities(rows), "\n".join([HEADER_T, *BASE_T]))
    return Expect("entities.csv", 3, "quote")


def not_a_graph_folder(f):
    f.mkdir(parents=True, exist_ok=True)
    (f / "readme.txt").write_text("hello")
    return Expect(f.name, None, "not a graph folder")


FATAL_CASES = [bad_entities_header, bad_triples_header, duplicate_entity_id, unknown_entity,
               zero_byte_entities, zero_byte_triples, header_only_entities, header_only_triples,
               non_utf8_entities, latin1_triples, nul_bytes, too_few_fields, unknown_mode, empty_head,
               empty_entity_id, no_training_triples, oversized_field, unterminated_quote,
               not_a_graph_folder]


# ------------------------------------------------------------------ accepted CSV cases

LONG_DESCRIPTION = ("A very long curator's note, with commas, \"quotes\" and line\nbreaks. " * 1500)[:100_000]


def bom_crlf(f):
    """UTF-8 BOM and Windows line ends in both files, a quoted multi-line cell, and a 100 kB
    description: all must be read exactly."""
    ents = [HEADER_E, *BASE_E[:2], 's,style,"Style, with comma","two\r\nlines",', BASE_E[3],
            'long,artwork,Long,"' + LONG_DESCRIPTION.replace('"', '""') + '",']
    trip = [HEADER_T, *BASE_T, "long,by,x,train"]
    e = ("\ufeff" + "\r\n".join(ents) + "\r\n").encode("utf-8")
    t = ("\ufeff" + "\r\n".join(trip) + "\r\n").encode("utf-8")
    return write(f, e, t)


def uppercase_headers_and_aliases(f):
    e = "ID , Type,Label,Description,Image\n" + "\n".join(BASE_E) + "\n"
    t = "Head,Relation,Tail,Mode\n" + "\n".join(r.replace(",val", ",Validation").replace(",test", ",TEST")
                                                for r in BASE_T) + "\n\n\n"
    return write(f, e, t)


# ------------------------------------------------------------------ images


def png_bytes(seed: int, size: int = 24) -> bytes:
    from PIL import Image
    rng = random.Random(seed)
    im = Image.new("RGB", (size, size))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)])
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width x height pixels (400 M by default); its IDAT holds
    only a few compressed rows, so it costs nothing to write but a naive decoder would
    allocate ~1.2 GB."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * width) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def hostile_image_graph(folder: Path, outside: Path) -> tuple[Path, dict[str, str]]:
    """A graph folder whose entities point at every kind of bad image. ``outside`` is a folder
    next to (not inside) the graph, holding files that must never be read.

    Returns (folder, {entity id: expected outcome}) where the outcome is "ok" (image used),
    "path" (rejected when the graph is read: escape, symlink out, FIFO, missing, empty, folder)
    or "decode" (accepted by the reader, rejected when decoded: corrupt, truncated, bomb).
    """
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    folder, outside = folder.resolve(), outside.resolve()
    img = folder / "img"
    img.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(png_bytes(999))
    os.mkfifo(outside / "trap.fifo")

    expect: dict[str, str] = {}
    rows: list[tuple[str, str]] = []

    def add(eid: str, rel: str, outcome: str) -> None:
        rows.append((eid, rel))
        expect[eid] = outcome

    for k in range(3):
        (img / f"good{k}.png").write_bytes(png_bytes(k))
        add(f"good{k}", f"img/good{k}.png", "ok")
    (img / "zero.png").write_bytes(b"")
    add("zero", "img/zero.png", "path")
    whole = png_bytes(7, size=64)
    (img / "truncated.png").write_bytes(whole[: len(whole) // 2])
    add("truncated", "img/truncated.png", "decode")
    (img / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(random.Random(3).randrange(256) for _ in range(500)))
    add("corrupt", "img/corrupt.jpg", "decode")
    (img / "text.png").write_text("this is not an image\n")
    add("textfile", "img/text.png", "decode")
    (img / "bomb.png").write_bytes(bomb_png())
    add("bomb", "img/bomb.png", "decode")
    add("missing", "img/nope.png", "path")
    add("dotdot", f"../{outside.name}/secret.png", "path")
    add("dotdot2", f"img/../../{outside.name}/secret.png", "path")
    add("absolute", str(secret), "path")
    add("abs_fifo", str(outside / "trap.fifo"), "path")
    os.symlink(secret, img / "link_out.png")
    add("symlink_out", "img/link_out.png", "path")
    os.symlink(outside / "trap.fifo", img / "link_fifo.png")
    add("symlink_fifo", "img/link_fifo.png", "path")
    os.symlink(outside, img / "dirlink")
    add("symlink_dir", "img/dirlink/secret.png", "path")
    os.mkfifo(img / "inside.fifo")
    add("fifo", "img/inside.fifo", "path")
    os.symlink("inside.fifo", img / "link_inside_fifo.png")
    add("symlink_fifo_in", "img/link_inside_fifo.png", "path")
    add("directory", "img", "path")
    os.symlink("loop_b", img / "loop_a")
    os.symlink("loop_a", img / "loop_b")
    add("loop", "img/loop_a", "path")
    os.symlink("good0.png", img / "link_in.png")  # a symlink that stays inside is fine
    add("symlink_in", "img/link_in.png", "ok")

    ents = [HEADER_E, "s,style,S,,", "x,artist,X,,"]
    trip = [HEADER_T, "x,hasStyle,s,train"]
    import csv
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for eid, rel in rows:
        w.writerow([eid, "artwork", eid.title(), "", rel])
    ents_text = "\n".join(ents) + "\n" + buf.getvalue()
    for n, (eid, _) in enumerate(rows):
        mode = "train" if n % 5 else "val"
        trip.append(f"{eid},by,x,{mode}")
        trip.append(f"{eid},hasStyle,s,{'train' if n % 7 else 'test'}")
    write(folder, ents_text, "\n".join(trip) + "\n")
    return folder, expect


def many_images_graph(folder: Path, n: int = 300, size: int = 24) -> Path:
    """A graph of ``n`` artworks, each with its own (distinct) small PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(exist_ok=True)
    ents = [HEADER_E, "x,artist,X,,", "y,artist,Y,,"]
    trip = [HEADER_T]
    for i in range(n):
        (folder / "img" / f"{i}.png").write_bytes(png_bytes(10_000 + i, size))
        ents.append(f"w{i},artwork,W{i},,img/{i}.png")
        trip.append(f"w{i},by,{'xy'[i % 2]},{'train' if i % 10 else 'val'}")
    return write(folder, "\n".join(ents) + "\n", "\n".join(trip) + "\n")


# ------------------------------------------------------------------ pickles


class _Evil:
    """Pickles to a call of os.system that would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvalEvil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


def evil_pickles(folder: Path, entity_ids: list[str], marker: Path) -> dict[str, Path]:
    """Feature files that must be refused without running anything (``marker`` must never
    appear), plus malformed ones that must fail with one line."""
    import torch
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    feats = {e: torch.ones(4) for e in entity_ids}
    p = folder / "system.pkl"
    p.write_bytes(pickle.dumps({**feats, entity_ids[0]: _Evil(marker)}))
    out["system"] = p
    p = folder / "eval.pkl"
    p.write_bytes(pickle.dumps(_EvalEvil(marker)))
    out["eval"] = p
    p = folder / "evil_zip.pt"
    torch.save({entity_ids[0]: _Evil(marker)}, p)
    out["zip"] = p
    p = folder / "truncated.pkl"
    p.write_bytes(pickle.dumps(feats)[:-20])
    out["truncated"] = p
    p = folder / "empty.pkl"
    p.write_bytes(b"")
    out["empty"] = p
    p = folder / "list.pkl"
    p.write_bytes(pickle.dumps([1.0, 2.0]))
    out["list"] = p
    p = folder / "nan.pkl"
    p.write_bytes(pickle.dumps({e: torch.full((4,), float("nan")) for e in entity_ids}))
    out["nan"] = p
    p = folder / "good.pkl"
    p.write_bytes(pickle.dumps(feats))
    out["good"] = p
    return out
