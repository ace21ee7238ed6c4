"""An S3 server on loopback for the object-store tests: moto's server mode (pinned in
requirements.txt) on a free port, and a small fault proxy in front of it that adds latency,
answers 500/503, rejects a credential or drops the answer of a request it forwarded.

    server = MotoServer.start()            # moto_server -H 127.0.0.1 -p <free port>
    proxy = FaultProxy(server.endpoint)     # http://127.0.0.1:<another port>
    proxy.latency_s = 0.02                  # every request
    proxy.fail_next(3, 503)                 # the next three requests
    server.stop(); proxy.stop()

Both bind 127.0.0.1 only and are stopped by the tests that start them.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple

ACCESS_KEY = "lancer-test-key"
SECRET_KEY = "lancer-test-secret-7c1f9a"  # tests assert it never shows up in output
REGION = "us-east-1"
BUCKET = "lancer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def storage_options(endpoint: str, **extra) -> dict:
    """Lance's storage_options for a bucket behind `endpoint`."""
    return dict(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, aws_region=REGION,
                aws_endpoint=endpoint, allow_http="true", **extra)


def env_for(endpoint: str) -> dict:
    """The same as AWS_* environment variables (object_store's from_env, Lance's with_env_s3)."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
            "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true"}


class MotoServer:
    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc = proc
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    @staticmethod
    def start(timeout: float = 30) -> "MotoServer":
        exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
        port = free_port()
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {proc.returncode}")
                time.sleep(0.1)
        else:
            proc.kill()
            raise RuntimeError("moto_server did not start")
        server = MotoServer(proc, port)
        server.client().create_bucket(Bucket=BUCKET)
        return server

    def client(self, endpoint: Optional[str] = None):
        import boto3

        return boto3.client("s3", endpoint_url=endpoint or self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION)

    def keys(self, prefix: str) -> dict:
        """{key: size} under `prefix`."""
        out, token = {}, None
        c = self.client()
        while True:
            kw = dict(Bucket=BUCKET, Prefix=prefix)
            if token:
                kw["ContinuationToken"] = token
            r = c.list_objects_v2(**kw)
            for o in r.get("Contents", []):
                out[o["Key"]] = o["Size"]
            if not r.get("IsTruncated"):
                return out
            token = r["NextContinuationToken"]

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def snapshot(self, prefix: str) -> dict:
        """{key: bytes} under `prefix`: a dataset's whole state."""
        return {k: self.get(k) for k in self.keys(prefix)}

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


class FaultProxy:
    """A loopback HTTP proxy to `upstream` with faults switched on and off by the test."""

    def __init__(self, upstream: str):
        m = re.match(r"http://([^:/]+):(\d+)", upstream)
        self.upstream = (m.group(1), int(m.group(2)))
        self.latency_s = 0.0
        self._lock = threading.Lock()
        self._failures: List[Tuple[int, Optional[Callable]]] = []
        self._drops: List[Callable] = []
        self.rejected_key: Optional[str] = None  # requests signed with this access key get 403
        self.log: List[Tuple[str, str, dict]] = []  # (method, path, selected headers)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _answer(self, status: int, body: bytes, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self):
                body = self._body()
                selected = {k: self.headers[k] for k in ("If-None-Match", "If-Match", "Range") if k in self.headers}
                with proxy._lock:
                    proxy.log.append((self.command, self.path, selected))
                if proxy.latency_s:
                    time.sleep(proxy.latency_s)
                auth = self.headers.get("Authorization", "")
                if proxy.rejected_key and f"Credential={proxy.rejected_key}/" in auth:
                    msg = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidAccessKeyId</Code>"
                           b"<Message>The AWS Access Key Id you provided does not exist in our records.</Message>"
                           b"</Error>")
                    return self._answer(403, msg, [("Content-Type", "application/xml")])
                status = proxy._take_failure(self.command, self.path)
                if status:
                    msg = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code></Error>"
                    return self._answer(status, msg, [("Content-Type", "application/xml")])
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                out_headers = [(k, v) for k, v in r.getheaders()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
                if self.command == "HEAD":
                    length = r.getheader("Content-Length") or "0"
                    self.send_response(r.status)
                    for k, v in out_headers:
                        self.send_header(k, v)
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    conn.close()
                    return
                conn.close()
                if proxy._take_drop(self.command, self.path):
                    # Forwarded and done upstream; the client never hears back.
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._answer(r.status, data, out_headers)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail_next(self, count: int, status: int = 503, match: Optional[Callable[[str, str], bool]] = None) -> None:
        """The next `count` requests (matching `match(method, path)`, if given) get `status`."""
        with self._lock:
            self._failures += [(status, match)] * count

    def drop_next(self, match: Callable[[str, str], bool]) -> None:
        """The next request matching `match` is forwarded, and its answer is lost."""
        with self._lock:
            self._drops.append(match)

    def _take_failure(self, method: str, path: str) -> int:
        with self._lock:
            for i, (status, match) in enumerate(self._failures):
                if match is None or match(method, path):
                    del self._failures[i]
                    return status
        return 0

    def _take_drop(self, method: str, path: str) -> bool:
        with self._lock:
            for i, match in enumerate(self._drops):
                if match(method, path):
                    del self._drops[i]
                    return True
        return False

    def requests(self, method: Optional[str] = None, contains: str = "") -> list:
        with self._lock:
            return [e for e in self.log if (method is None or e[0] == method) and contains in e[1]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Azurite (npm, installed by scripts/setup.sh into .azurite/): the Azure Blob emulator, for az://.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # public


class Azurite:
    BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       ".azurite", "node_modules", ".bin", "azurite-blob")

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @staticmethod
    def available() -> bool:
        return os.access(Azurite.BIN, os.X_OK)

    @staticmethod
    def start(location: str, timeout: float = 30) -> "Azurite":
        port = free_port()
        proc = subprocess.Popen([Azurite.BIN, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location",
                                 location, "--silent", "--skipApiVersionCheck", "--loose"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return Azurite(proc, port)
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"azurite exited with {proc.returncode}")
                time.sleep(0.1)
        proc.kill()
        raise RuntimeError("azurite did not start")

    def storage_options(self) -> dict:
        # object_store's emulator mode; AZURITE_BLOB_STORAGE_URL (see env) names the port.
        return {"azure_storage_account_name": AZURITE_ACCOUNT, "azure_storage_account_key": AZURITE_KEY,
                "azure_storage_use_emulator": "true", "allow_http": "true"}

    def env(self) -> dict:
        return {"AZURITE_BLOB_STORAGE_URL": self.url}

    def create_container(self, name: str) -> None:
        """Create Container, signed with the account's SharedKey (no Azure SDK needed)."""
        import base64
        import hashlib
        import hmac
        import urllib.request
        from email.utils import formatdate

        date, version = formatdate(usegmt=True), "2021-08-06"
        to_sign = ("PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
                   f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container")
        sig = base64.b64encode(hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest())
        req = urllib.request.Request(f"{self.url}/{AZURITE_ACCOUNT}/{name}?restype=container", method="PUT",
                                     headers={"x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
                                              "Authorization": f"SharedKey {AZURITE_ACCOUNT}:{sig.decode()}"})
        urllib.request.urlopen(req, timeout=10).close()

    def stop(self) -> None:
        stop_process(self.proc)
