"""``models fetch`` / ``models list`` against a local HTTP server (127.0.0.1) that honours Range requests."""

import hashlib
import http.server
import json
import threading

import pytest
from click.testing import CliRunner

from animeparse import AnimeparseError
from animeparse.cli.main import cli
from animeparse.prelabel.models import MODELS, ModelSpec, fetch_model, list_models

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str | None] = []
    honour_range = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        self.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng and self.honour_range else 0
        if start >= len(data) and rng:
            self.send_error(416)
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    _Handler.files = {"/models/tiny.pth": PAYLOAD}
    _Handler.ranges = []
    _Handler.honour_range = True
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def spec(base, *, sha=None, size=None):
    size = len(PAYLOAD) if size is None else size
    return ModelSpec("tiny", f"{base}/models/tiny.pth", sha or hashlib.sha256(PAYLOAD).hexdigest(), size, "custom")


def test_fetch_verifies_and_renames(server, tmp_path):
    path = fetch_model(spec(server), cache_dir=tmp_path)
    assert path == tmp_path / "tiny.pth" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "tiny.pth.part").exists() and _Handler.ranges == [None]
    assert fetch_model(spec(server), cache_dir=tmp_path) == path  # verified again, not downloaded
    assert _Handler.ranges == [None]


def test_checksum_mismatch_is_refused_and_the_file_removed(server, tmp_path):
    with pytest.raises(AnimeparseError, match="does not match the published checkpoint.*the file was removed"):
        fetch_model(spec(server, sha="0" * 64), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_partial_download_resumes_with_a_range_request(server, tmp_path):
    (tmp_path / "tiny.pth.part").write_bytes(PAYLOAD[:4000])
    seen = []
    path = fetch_model(spec(server), cache_dir=tmp_path, progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == PAYLOAD and _Handler.ranges == ["bytes=4000-"]
    assert seen[-1] == len(PAYLOAD) and seen[0] > 4000


def test_corrupt_partial_download_fails_the_checksum_and_is_removed(server, tmp_path):
    (tmp_path / "tiny.pth.part").write_bytes(b"\0" * 4000)
    with pytest.raises(AnimeparseError, match="does not match"):
        fetch_model(spec(server), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    _Handler.honour_range = False
    (tmp_path / "tiny.pth.part").write_bytes(PAYLOAD[:4000])
    assert fetch_model(spec(server), cache_dir=tmp_path).read_bytes() == PAYLOAD


def test_complete_partial_file_is_accepted_after_416(server, tmp_path):
    (tmp_path / "tiny.pth.part").write_bytes(PAYLOAD)
    assert fetch_model(spec(server), cache_dir=tmp_path).read_bytes() == PAYLOAD


def test_tampered_cached_file_is_refused_and_removed(server, tmp_path):
    (tmp_path / "tiny.pth").write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(AnimeparseError, match="was removed: fetch it again"):
        fetch_model(spec(server), cache_dir=tmp_path)
    assert not (tmp_path / "tiny.pth").exists()


def test_network_errors_keep_the_partial_file_for_a_resume(tmp_path):
    (tmp_path / "tiny.pth.part").write_bytes(PAYLOAD[:100])
    with pytest.raises(AnimeparseError, match="run the fetch again to resume"):
        fetch_model(spec("http://127.0.0.1:9"), cache_dir=tmp_path, timeout=5)
    assert (tmp_path / "tiny.pth.part").stat().st_size == 100


def test_cli_fetch_from_a_mirror_with_other_bytes_is_refused(server, tmp_path):
    r = CliRunner().invoke(cli, ["-q", "models", "fetch", "sam-vit-b", "--cache-dir", str(tmp_path), "--url",
                                 f"{server}/models/tiny.pth"])
    assert r.exit_code == 1 and "does not match the published checkpoint" in r.output
    assert MODELS["sam-vit-b"].sha256 in r.output and list(tmp_path.iterdir()) == []


def test_cli_list_shows_present_partial_absent(tmp_path):
    (tmp_path / MODELS["sam-vit-b"].filename).write_bytes(b"x")
    (tmp_path / (MODELS["sam-vit-l"].filename + ".part")).write_bytes(b"x" * 1000)
    r = CliRunner().invoke(cli, ["models", "list", "--cache-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert {row["name"]: row["state"] for row in json.loads(r.output)} == {
        "sam-vit-h": "absent", "sam-vit-l": "partial", "sam-vit-b": "present"}
    r = CliRunner().invoke(cli, ["models", "list", "--cache-dir", str(tmp_path)])
    assert "partial (0%)" in r.output and str(tmp_path) in r.output
    assert [m.state for m in list_models(tmp_path)] == ["absent", "partial", "present"]


def test_official_table_is_complete():
    for name, m in MODELS.items():
        assert m.url.startswith("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_")
        assert len(m.sha256) == 64 and m.size > 300_000_000 and name == f"sam-{m.arch.replace('_', '-')}"
