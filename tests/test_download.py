"""Downloads against a local HTTP server on 127.0.0.1 only: resume, checksums, offline message."""
from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vlkge.data import download as dl
from vlkge.data.published import detect_published
from vlkge.data.readers import load_graph
from vlkge.errors import VLKGEError

TRIPLES = ("head,relation,tail,mode\n" + "".join(
    f"n{i:03d},_hypernym,n{(i + 1) % 50:03d},{'train' if i < 40 else 'val' if i < 45 else 'test'}\n"
    for i in range(50)) * 40).encode()


class Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    break_once: set[str] = set()

    def log_message(self, *a):  # keep pytest output clean
        pass

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range")))
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.break_once:  # serve half, then drop the connection
            self.break_once.discard(self.path)
            self.wfile.write(body[start: start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    Handler.files, Handler.log, Handler.break_once = {}, [], set()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


WN9_PATH = "/vlkge/data/wn9_img/wn9_img_triples.csv"


def test_download_wn9_then_load(server, tmp_path):
    Handler.files[WN9_PATH] = TRIPLES
    dest = dl.download("wn9-img", tmp_path / "wn9", base_url=server, progress=False)
    f = dest / "wn9_img_triples.csv"
    assert f.read_bytes() == TRIPLES
    assert (dest / "wn9_img_triples.csv.sha256").read_text().split()[0] == hashlib.sha256(TRIPLES).hexdigest()
    assert detect_published(dest) == "wn9-img" and load_graph(dest).num_entities == 50
    # a complete, verified file is not fetched again
    n = len(Handler.log)
    dl.download("wn9-img", dest, base_url=server, progress=False)
    assert len(Handler.log) == n


def test_resume_after_broken_connection(server, tmp_path):
    Handler.files[WN9_PATH] = TRIPLES
    Handler.break_once.add(WN9_PATH)
    dest = dl.download("wn9-img", tmp_path / "d", base_url=server, progress=False)
    assert (dest / "wn9_img_triples.csv").read_bytes() == TRIPLES
    (p1, r1), (p2, r2) = Handler.log
    assert r1 is None and r2 == f"bytes={len(TRIPLES) // 2}-"
    assert not (dest / "wn9_img_triples.csv.part").exists()


def test_resume_from_existing_part_without_retries(server, tmp_path):
    Handler.files[WN9_PATH] = TRIPLES
    Handler.break_once.add(WN9_PATH)
    dest = tmp_path / "d"
    with pytest.raises(VLKGEError, match="run again to resume"):
        dl.download("wn9-img", dest, base_url=server, progress=False, retries=0)
    part = dest / "wn9_img_triples.csv.part"
    assert part.stat().st_size == len(TRIPLES) // 2
    dl.download("wn9-img", dest, base_url=server, progress=False, retries=0)
    assert (dest / "wn9_img_triples.csv").read_bytes() == TRIPLES
    assert Handler.log[-1][1] == f"bytes={len(TRIPLES) // 2}-"


def test_checksum_mismatch(server, tmp_path, monkeypatch):
    Handler.files[WN9_PATH] = TRIPLES
    dest = tmp_path / "d"
    dl.download("wn9-img", dest, base_url=server, progress=False)
    # upstream changes: the recorded sidecar checksum catches it on re-download
    (dest / "wn9_img_triples.csv").unlink()
    Handler.files[WN9_PATH] = TRIPLES.replace(b"n001", b"n999")
    with pytest.raises(VLKGEError, match="checksum mismatch"):
        dl.download("wn9-img", dest, base_url=server, progress=False)
    assert not (dest / "wn9_img_triples.csv").exists() and not (dest / "wn9_img_triples.csv.part").exists()
    # a manifest checksum is enforced on the first download too
    rf = dl.RemoteFile("x/y.csv", "y.csv", sha256="0" * 64)
    monkeypatch.setitem(dl.MANIFEST, "wn9-img", (rf,))
    Handler.files["/x/y.csv"] = b"abc"
    with pytest.raises(VLKGEError, match="checksum mismatch"):
        dl.download("wn9-img", tmp_path / "e", base_url=server, progress=False)


def test_env_base_and_http_error(server, tmp_path, monkeypatch):
    monkeypatch.setenv("VLKGE_DOWNLOAD_BASE", server)
    with pytest.raises(VLKGEError, match="HTTP 404"):
        dl.download("wikiart-mkg-v1", tmp_path / "v1", progress=False)
    assert Handler.log[0][0] == "/vlkge/data/wikiart_mkg_v1/wikiart_mkg_v1_triples.csv"
    with pytest.raises(VLKGEError, match="unknown dataset"):
        dl.download("imagenet", tmp_path)


def test_offline_message(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(VLKGEError) as e:
        dl.download("wikiart-mkg-v2", tmp_path / "v2", base_url=f"http://127.0.0.1:{port}", progress=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"cannot reach 127.0.0.1:{port}: no network")
    assert f"copy the files by hand into {tmp_path / 'v2'} (see README)" in msg


def test_manifest_urls():
    paths = {f.path for files in dl.MANIFEST.values() for f in files}
    assert "vlkge/data/wikiart_mkg_v2/wikiart_v2_artworks.csv" in paths
    assert "vlkge/data/wn9_img/features/wn9_img_vf_clip.pkl" in paths
    assert dl.DEFAULT_BASE == "https://media.githubusercontent.com/media/thefth/vl-kge/main"
