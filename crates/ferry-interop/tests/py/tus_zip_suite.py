"""tuspy and raw HTTP against ferryd's tus endpoint (/.tus/) and its zip downloads.

Run by crates/ferry-interop/tests/tus_zip.rs with the tuspy virtual environment's python:
    tus_zip_suite.py resume HOST PORT FILE TARGET        (user alice, password wonderland)
    tus_zip_suite.py refusals HOST PORT
    tus_zip_suite.py zip HOST PORT URL_PATH EXPECTED_DIR
    tus_zip_suite.py status HOST PORT URL_PATH STATUS       (a GET as alice)
Prints one JSON line of measurements; exits non-zero on the first failed check.
"""

import base64
import hashlib
import http.client
import json
import os
import socket
import sys
import tempfile
import urllib.parse
import threading
import zipfile

from tusclient import client as tus

USERS = {"alice": "wonderland", "bob": "builder", "carol": "readonly"}


def auth(user):
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    return {"Authorization": "Basic " + token}


def check(condition, what):
    if not condition:
        raise SystemExit("FAILED: " + what)


class Proxy:
    """A loopback TCP proxy that counts the bytes going to the server and, when told, cuts
    the connection after `limit` of them."""

    def __init__(self, host, port, limit=None):
        self.target = (host, port)
        self.limit = limit
        self.sent = 0
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(60)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return
            outbound = socket.create_connection(self.target, timeout=60)
            threading.Thread(target=self.pump, args=(inbound, outbound, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(outbound, inbound, False), daemon=True).start()

    def pump(self, source, sink, upward):
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                if upward:
                    with self.lock:
                        if self.limit is not None and self.sent + len(data) > self.limit:
                            data = data[: self.limit - self.sent]
                            self.sent += len(data)
                            sink.sendall(data)
                            raise ConnectionAbortedError("cut")
                        self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self):
        self.listener.close()


def request(host, port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def tus_headers(user, **more):
    headers = {"Tus-Resumable": "1.0.0"}
    headers.update(auth(user))
    headers.update(more)
    return headers


def metadata(**pairs):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def invisible(host, port, target, what):
    folder, _, name = target.rpartition("/")
    status, _, _ = request(host, port, "GET", urllib.parse.quote(target), auth("alice"))
    check(status == 404, f"{what}: GET of the unfinished file gave {status}")
    status, _, listing = request(host, port, "GET", urllib.parse.quote(folder) + "/?format=json", auth("alice"))
    check(status == 200, f"{what}: listing gave {status}")
    names = [entry["name"] for entry in json.loads(listing)["entries"]]
    check(name not in names, f"{what}: the unfinished file is listed: {names}")
    check(not any(n.startswith(".ferry") for n in names), f"{what}: a partial is listed: {names}")


def resume(host, port, path, target):
    size = os.path.getsize(path)
    # The first attempt goes through a proxy that cuts it some 70 MiB in, in one PATCH.
    cutter = Proxy(host, port, limit=70 << 20)
    client = tus.TusClient(f"http://127.0.0.1:{cutter.port}/.tus/", headers=auth("alice"))
    uploader = client.uploader(file_path=path, metadata={"path": target}, chunk_size=size)
    failed = False
    try:
        uploader.upload()
    except Exception:  # tuspy raises its own errors or requests' for a cut connection
        failed = True
    cutter.close()
    check(failed, "the cut upload did not fail")
    upload_path = "/.tus/" + uploader.url.rsplit("/.tus/", 1)[1]
    # The server may still be taking in the last bytes the proxy let through.
    offset = 0
    for _ in range(50):
        status, headers, _ = request(host, port, "HEAD", upload_path, tus_headers("alice"))
        check(status == 200, f"HEAD after the cut gave {status}")
        now = int(headers["upload-offset"])
        if now == offset and now > 0:
            break
        offset = now
        threading.Event().wait(0.1)
    check(0 < offset < size, f"offset after the cut is {offset}")
    check(headers.get("cache-control") == "no-store", "HEAD is cacheable")
    invisible(host, port, target, "after the cut")
    # The resume, counted by another proxy: tuspy asks the offset, then sends the rest in
    # 16 MiB chunks with sha1 checksums.
    counter = Proxy(host, port)
    client = tus.TusClient(f"http://127.0.0.1:{counter.port}/.tus/", headers=auth("alice"))
    resumed = client.uploader(
        file_path=path,
        url=f"http://127.0.0.1:{counter.port}{upload_path}",
        chunk_size=16 << 20,
        upload_checksum=True,
    )
    check(resumed.offset == offset, f"tuspy resumed at {resumed.offset}, not {offset}")
    resumed.upload()
    counter.close()
    check(counter.sent < size, f"the resume sent {counter.sent} bytes of {size}")
    status, _, data = request(host, port, "GET", urllib.parse.quote(target), auth("alice"))
    check(status == 200, f"GET of the finished file gave {status}")
    with open(path, "rb") as source:
        check(data == source.read(), "the uploaded bytes differ")
    status, _, _ = request(host, port, "HEAD", upload_path, tus_headers("alice"))
    check(status == 404, f"HEAD of a finished upload gave {status}")
    print(json.dumps({"size": size, "offset_after_cut": offset, "bytes_sent_on_resume": counter.sent}))


def refusals(host, port):
    h = lambda user, **more: tus_headers(user, **more)
    # OPTIONS without a login: what the server speaks.
    status, headers, _ = request(host, port, "OPTIONS", "/.tus/")
    check(status == 204, f"OPTIONS gave {status}")
    check(headers.get("tus-version") == "1.0.0", f"Tus-Version: {headers}")
    for extension in ("creation", "termination", "checksum"):
        check(extension in headers.get("tus-extension", ""), f"no {extension} in {headers}")
    check(int(headers.get("tus-max-size", "0")) > 0, "no Tus-Max-Size")
    check("sha1" in headers.get("tus-checksum-algorithm", ""), "sha1 not offered")
    # Another version: 412.
    status, headers, _ = request(host, port, "POST", "/.tus/", {**auth("alice"), "Tus-Resumable": "0.2.2", "Upload-Length": "5"})
    check(status == 412, f"another version gave {status}")
    # A creation and a chunk whose checksum is wrong: 460, the offset stays.
    create = h("alice", **{"Upload-Length": "10", "Upload-Metadata": metadata(path="/up/sum.txt")})
    status, headers, _ = request(host, port, "POST", "/.tus/", create)
    check(status == 201, f"creation gave {status}")
    upload = headers["location"]
    check(upload.startswith("/.tus/") and len(upload) == len("/.tus/") + 32, upload)
    patch = lambda user, offset, body, digest=None: request(
        host, port, "PATCH", upload,
        h(user, **{"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
          **({"Upload-Checksum": "sha1 " + base64.b64encode(digest).decode()} if digest else {})),
        body,
    )
    status, _, _ = patch("alice", 0, b"hello", hashlib.sha1(b"other").digest())
    check(status == 460, f"a wrong checksum gave {status}")
    status, headers, _ = request(host, port, "HEAD", upload, h("alice"))
    check(headers.get("upload-offset") == "0", f"offset after a refused chunk: {headers}")
    status, headers, _ = patch("alice", 0, b"hello", hashlib.sha1(b"hello").digest())
    check(status == 204 and headers.get("upload-offset") == "5", f"a good chunk: {status} {headers}")
    # A wrong offset: 409.
    status, _, _ = patch("alice", 3, b"world")
    check(status == 409, f"a wrong offset gave {status}")
    # Another user's upload does not exist for them, whatever they try.
    for method in ("HEAD", "DELETE"):
        status, _, _ = request(host, port, method, upload, h("bob"))
        check(status == 404, f"bob's {method} of alice's upload gave {status}")
    status, _, _ = patch("bob", 5, b"world")
    check(status == 404, f"bob's PATCH of alice's upload gave {status}")
    # A made-up ID: 404.
    status, _, _ = request(host, port, "HEAD", "/.tus/" + "0" * 32, h("alice"))
    check(status == 404, f"an unknown ID gave {status}")
    # Termination: 204, then the upload is gone and nothing was published.
    status, _, _ = request(host, port, "DELETE", upload, h("alice"))
    check(status == 204, f"termination gave {status}")
    status, _, _ = request(host, port, "HEAD", upload, h("alice"))
    check(status == 404, f"HEAD after termination gave {status}")
    invisible(host, port, "/up/sum.txt", "after termination")
    # No upload right: 403 at creation.
    status, _, _ = request(host, port, "POST", "/.tus/", h("carol", **{"Upload-Length": "3", "Upload-Metadata": metadata(filename="c.txt")}))
    check(status == 403, f"a user without the upload right got {status}")
    # No login at all: 401.
    status, _, _ = request(host, port, "POST", "/.tus/", {"Tus-Resumable": "1.0.0", "Upload-Length": "3", "Upload-Metadata": metadata(filename="c.txt")})
    check(status == 401, f"no login gave {status}")
    # A path that climbs: 400.
    status, _, _ = request(host, port, "POST", "/.tus/", h("alice", **{"Upload-Length": "3", "Upload-Metadata": metadata(path="/../../etc/x")}))
    check(status == 400, f"a climbing path gave {status}")
    # `filename` lands in the home; a whole small upload in one PATCH completes it.
    status, headers, _ = request(host, port, "POST", "/.tus/", h("alice", **{"Upload-Length": "3", "Upload-Metadata": metadata(filename="named.txt")}))
    check(status == 201, f"creation by filename gave {status}")
    status, _, _ = request(host, port, "PATCH", headers["location"], h("alice", **{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}), b"abc")
    check(status == 204, f"PATCH by filename gave {status}")
    status, _, data = request(host, port, "GET", "/named.txt", auth("alice"))
    check(status == 200 and data == b"abc", f"the file by filename: {status} {data!r}")
    print(json.dumps({"refusals": "ok"}))


def zip_check(host, port, url_path, expected):
    """Streams the zip to a temporary file, then compares it with the tree under `expected`:
    the same folders, the same files, the same bytes."""
    connection = http.client.HTTPConnection(host, port, timeout=120)
    connection.request("GET", url_path, headers=auth("alice"))
    response = connection.getresponse()
    check(response.status == 200, f"GET {url_path} gave {response.status}")
    check(response.getheader("Content-Type") == "application/zip", "not application/zip")
    check("attachment" in (response.getheader("Content-Disposition") or ""), "no attachment")
    received = 0
    with tempfile.TemporaryFile() as archive:
        while True:
            piece = response.read(1 << 20)
            if not piece:
                break
            received += len(piece)
            archive.write(piece)
        connection.close()
        archive.seek(0)
        with zipfile.ZipFile(archive) as zipped:
            names = set(zipped.namelist())
            wanted = set()
            for folder, dirs, files in os.walk(expected):
                relative = os.path.relpath(folder, expected)
                prefix = "" if relative == "." else relative + "/"
                wanted.update(prefix + d + "/" for d in dirs)
                wanted.update(prefix + f for f in files)
            check(names == wanted, f"names differ: extra {sorted(names - wanted)[:5]}, missing {sorted(wanted - names)[:5]}")
            for name in names:
                if name.endswith("/"):
                    continue
                # zipfile checks each member's CRC-32 when it reads to the end.
                with zipped.open(name) as member, open(os.path.join(expected, name), "rb") as source:
                    while True:
                        a, b = member.read(1 << 20), source.read(1 << 20)
                        check(a == b, f"{name} differs")
                        if not a:
                            break
    print(json.dumps({"zip_bytes": received, "entries": len(names)}))


def main():
    section, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if section == "resume":
        resume(host, port, sys.argv[4], sys.argv[5])
    elif section == "refusals":
        refusals(host, port)
    elif section == "zip":
        zip_check(host, port, sys.argv[4], sys.argv[5])
    elif section == "status":
        status, _, _ = request(host, port, "GET", sys.argv[4], auth("alice"))
        check(status == int(sys.argv[5]), f"GET {sys.argv[4]} gave {status}, not {sys.argv[5]}")
    else:
        raise SystemExit("unknown section " + section)


if __name__ == "__main__":
    main()
