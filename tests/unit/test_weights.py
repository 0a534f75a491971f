"""stseg.weights through `stseg weights`: the listing, and `fetch` against a local HTTP server the test starts (a good
file, a truncated one, a wrong checksum, a 404, a dropped connection resumed); nothing half-written is ever used."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

PAYLOAD = os.urandom(3 * 2**20 + 123)  # a "checkpoint" the test makes


class Server(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD under several names, each misbehaving as its name says; honours Range requests."""

    drops: dict[str, int] = {}

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802 (the standard library's name)
        name = self.path.strip("/")
        checksum = hashlib.sha256(PAYLOAD).hexdigest()
        if name.endswith(".sha256"):
            wrong = name.startswith("sam2.1_hiera_small")
            return self._send(200, (("0" * 64) if wrong else checksum).encode() + b"  file\n")
        if name.startswith("sam2.1_hiera_large"):
            return self._send(404, b"not here")
        start = int(self.headers["Range"].split("=")[1].split("-")[0]) if "Range" in self.headers else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name.startswith("sam2.1_hiera_base_plus") and self.drops.setdefault(name, 0) == 0:
            self.drops[name] = 1  # the first time: the connection drops half way
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        if name.startswith("truncated"):
            self.wfile.write(body[:1000])  # fewer bytes than announced, every time
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    Server.drops = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def weights(tmp_path: Path, models: dict, *args: str) -> subprocess.CompletedProcess:
    config = {"dataset": {"root": str(tmp_path / "data")}, "results": str(tmp_path / "results"), "models": models}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "stseg.cli", "weights", *args, "--configfile", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True, env={**os.environ, "STSEG_WEIGHTS": str(tmp_path / "cache")})


def sam(path: Path) -> dict:
    return {"type": "sam2", "options": {"checkpoint": str(path)}}


def test_listing_names_each_file_its_source_and_state(tmp_path):
    ok = tmp_path / "w" / "sam2.1_hiera_tiny.pt"
    ok.parent.mkdir()
    ok.write_bytes(PAYLOAD)
    (ok.parent / "sam2.1_hiera_tiny.pt.sha256").write_text(hashlib.sha256(PAYLOAD).hexdigest() + "  x\n")
    bad = tmp_path / "w" / "sam2.1_hiera_small.pt"
    bad.write_bytes(b"changed")
    (bad.parent / "sam2.1_hiera_small.pt.sha256").write_text("0" * 64 + "  x\n")
    models = {"a": sam(ok), "b": sam(bad), "c": sam(tmp_path / "w" / "sam2.1_hiera_large.pt"), "flow": {"type": "flow"},
              "s3": {"type": "sam3", "options": {"checkpoint": str(tmp_path / "w" / "sam3.pt")}}}
    out = weights(tmp_path, models).stdout
    assert "present, verified" in out and "present, CHECKSUM MISMATCH" in out and "missing" in out
    assert "from https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_large.pt" in out
    assert "gated: accept the licence on https://huggingface.co/facebook/sam3" in out
    assert "flow" not in out.split()  # a built-in model needs no weights


def test_fetch_downloads_verifies_resumes_and_refuses(tmp_path, mirror):
    w = tmp_path / "w"
    models = {"good": sam(w / "sam2.1_hiera_tiny.pt"), "dropped": sam(w / "sam2.1_hiera_base_plus.pt"),
              "wrong": sam(w / "sam2.1_hiera_small.pt"), "gone": sam(w / "sam2.1_hiera_large.pt"),
              "gated": {"type": "sam3", "options": {"checkpoint": str(w / "sam3.pt")}}}
    result = weights(tmp_path, models, "fetch", "--mirror", mirror)
    assert result.returncode == 1
    out = result.stdout
    for name in ("sam2.1_hiera_tiny.pt", "sam2.1_hiera_base_plus.pt"):  # the dropped one resumed from its partial
        assert (w / name).read_bytes() == PAYLOAD and f"{w / name}: fetched from {mirror}{name}" in out
        assert (w / f"{name}.sha256").read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()
    assert "verified" in out
    assert not (w / "sam2.1_hiera_small.pt").exists() and "is not the published 000000" in out  # wrong checksum
    assert not (w / "sam2.1_hiera_large.pt").exists() and "HTTP 404" in out
    assert "gated: accept the licence" in out and not (w / "sam3.pt").exists()
    assert not [p for p in w.iterdir() if p.name.endswith(".partial")]  # nothing half-written left as if whole
    again = weights(tmp_path, {"good": sam(w / "sam2.1_hiera_tiny.pt")}, "fetch", "--mirror", mirror)
    assert again.returncode == 0 and f"{w / 'sam2.1_hiera_tiny.pt'}: present" in again.stdout


def test_a_truncated_download_is_kept_as_a_partial_and_never_used(tmp_path, mirror):
    target = tmp_path / "w" / "truncated.pt"
    from stseg.weights import SOURCES, Needed, WeightsError, fetch

    item = Needed("m", "sam2", target, target.name, SOURCES["sam2"], True)
    with pytest.raises(WeightsError, match="did not complete in 2 attempts"):
        fetch(item, mirror, attempts=2, timeout=5)
    assert not target.exists() and (target.parent / ".truncated.pt.partial").is_file()
