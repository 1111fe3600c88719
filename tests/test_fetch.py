"fetch-spider against a local http.server: success, a connection cut midway and resumed, a checksum mismatch."
import hashlib, io, subprocess, threading, zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from conftest import BIN
from spine_nb.core import SpineError
from spine_nb.spider import SPIDER_FILES, download, fetch_spider

def _zip(folder, names):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for n in names: z.writestr(f"{folder}/{n}", (n*2000).encode())
    return b.getvalue()

class Server:
    "Serves `files` on 127.0.0.1 with HTTP Range; `cut[name]` = bytes after which the first response is cut off."
    def __init__(self, files):
        self.files, self.cut, self.log, self.no_length = files, {}, [], set()
        srv = self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                if name not in srv.files: self.send_error(404); return
                data = srv.files[name]; rng = self.headers.get("Range")
                srv.log.append((name, rng))
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(data): self.send_error(416); return
                self.send_response(206 if rng else 200)
                if name not in srv.no_length: self.send_header("Content-Length", str(len(data) - start))
                if rng: self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if name in srv.cut:                       # cut the connection midway, once
                    body = body[:srv.cut.pop(name)]; self.wfile.write(body); self.wfile.flush()
                    self.close_connection = True; return
                self.wfile.write(body)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/records/10159290/files"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
    def close(self): self.httpd.shutdown(); self.httpd.server_close()

@pytest.fixture
def server():
    files = {"images.zip": _zip("images", ["1_t2.mha", "2_t2.mha"]), "masks.zip": _zip("masks", ["1_t2.mha", "2_t2.mha"]),
             "overview.csv": b"new_file_name,subset\n1_t2,training\n2_t2,training\n",
             "radiological_gradings.csv": b"Patient,IVD label\n"}
    s = Server(files); s.sha = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    yield s
    s.close()

def test_fetch_success(server, tmp_path):
    dest = fetch_spider(tmp_path/"SPIDER", base_url=server.url, files=server.sha, progress=False)
    assert sorted(p.name for p in (dest/"images").iterdir()) == ["1_t2.mha", "2_t2.mha"]
    assert sorted(p.name for p in (dest/"masks").iterdir()) == ["1_t2.mha", "2_t2.mha"]
    assert (dest/"overview.csv").read_bytes() == server.files["overview.csv"]
    assert not list(dest.glob("*.part")) and not list(dest.glob("*.zip"))
    n = len(server.log)                                          # a second run downloads nothing
    fetch_spider(dest, base_url=server.url, files=server.sha, progress=False)
    assert len(server.log) == n

def test_fetch_resumes_after_cut(server, tmp_path):
    size = len(server.files["images.zip"]); server.cut["images.zip"] = size//2
    dest = fetch_spider(tmp_path/"S", base_url=server.url, files=server.sha, progress=False)
    assert (dest/"images"/"1_t2.mha").read_bytes() == b"1_t2.mha"*2000
    ranges = [r for n, r in server.log if n == "images.zip"]
    assert ranges == [None, f"bytes={size//2}-"]                 # the second request asked only for the rest

def test_fetch_resumes_across_runs(server, tmp_path):
    "A run that dies leaves NAME.part; the next run continues from it instead of starting over."
    f = tmp_path/"masks.zip"; data = server.files["masks.zip"]
    f.with_name("masks.zip.part").write_bytes(data[:100])
    download(f"{server.url}/masks.zip", f, server.sha["masks.zip"], progress=False)
    assert f.read_bytes() == data and server.log == [("masks.zip", "bytes=100-")]

def test_fetch_checksum_mismatch(server, tmp_path):
    bad = dict(server.sha, **{"masks.zip": "0"*64})
    with pytest.raises(SpineError, match="masks.zip: sha256 mismatch.*expected 0000.*deleted"):
        fetch_spider(tmp_path/"S", base_url=server.url, files=bad, progress=False)
    assert not (tmp_path/"S"/"masks.zip").exists() and not (tmp_path/"S"/"masks.zip.part").exists()
    assert not (tmp_path/"S"/"masks").exists()

def test_fetch_cli_against_published_hashes(server, tmp_path):
    "The CLI checks the real published sha256: the local server's small zips must be refused, with a clear message."
    r = subprocess.run([str(BIN/"spine_nb"), "fetch-spider", str(tmp_path/"S"), "--base-url", server.url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "sha256 mismatch" in r.stderr and SPIDER_FILES["images.zip"] in r.stderr
    assert not any(p.name.startswith("images") for p in (tmp_path/"S").iterdir())

def test_fetch_unreachable(tmp_path):
    with pytest.raises(SpineError, match="download failed after 2 attempts"):
        download("http://127.0.0.1:9/x.zip", tmp_path/"x.zip", "0"*64, retries=1, timeout=2, progress=False)

def test_fetch_without_content_length_resumes(server, tmp_path):
    "A server that sends no Content-Length and cuts the connection: the part is continued, not thrown away."
    size = len(server.files["masks.zip"])
    server.no_length.add("masks.zip"); server.cut["masks.zip"] = size//3
    f = tmp_path/"masks.zip"
    download(f"{server.url}/masks.zip", f, server.sha["masks.zip"], progress=False)
    assert f.read_bytes() == server.files["masks.zip"]
    assert [r for _, r in server.log] == [None, f"bytes={size//3}-", f"bytes={size}-"]   # the last one: 416, all there

def test_fetch_bad_url_and_no_part_to_resume(tmp_path):
    with pytest.raises(SpineError, match="notaurl/x.zip: not an http"):
        download("notaurl/x.zip", tmp_path/"x.zip", "0"*64)
    with pytest.raises(SpineError, match="run again to retry"):
        download("http://127.0.0.1:9/x.zip", tmp_path/"x.zip", "0"*64, retries=0, timeout=2, progress=False)
