#!/usr/bin/env python3
"""A tiny update server for the end-to-end tests: answers POST /api/check
(spec 3.2/3.3) on a free loopback port.

Usage: api_server.py CONFIG PORTFILE LOG

CONFIG is a JSON file read again for every request, so a test changes the
server's behaviour by rewriting it:
  {"mode": "ok" | "500" | "malformed" | "huge" | "huge-cl" | "slow",
   "answers": {"core": {...}, "plugin:SLUG": {...}},   # mode ok
   "api_key": "KEY",          # if set, other Bearer tokens get 401
   "delay": 3}                # mode slow: seconds before answering
An answer not listed is {"update_available": false}. The chosen port is
written to PORTFILE; every request is appended to LOG as one JSON line:
{"path", "form", "auth"}.
"""
import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONFIG, PORTFILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
HUGE = 10 * 1024 * 1024


def load_config():
    with open(CONFIG, encoding="utf-8") as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send(self, status, body, length=True):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        self.send(405, b'{"error": "POST only"}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode("utf-8")))
        auth = self.headers.get("Authorization", "")
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": self.path, "form": form, "auth": auth}) + "\n")
        cfg = load_config()
        mode = cfg.get("mode", "ok")
        if self.path != "/api/check":
            return self.send(404, b'{"error": "not found"}')
        key = cfg.get("api_key")
        if key and auth != "Bearer " + key:
            return self.send(401, b'{"error": "bad api key"}')
        if mode == "500":
            return self.send(500, b'{"error": "internal"}')
        if mode == "malformed":
            return self.send(200, b'{\n  "update_available": tru\n}')
        if mode in ("huge", "huge-cl"):
            body = b'{"pad": "' + b"a" * HUGE + b'"}'
            return self.send(200, body, length=(mode == "huge-cl"))
        if mode == "slow":
            time.sleep(cfg.get("delay", 3))
        comp = form.get("component", "")
        if comp == "plugin":
            comp = "plugin:" + form.get("slug", "")
        answer = cfg.get("answers", {}).get(comp, {"update_available": False})
        self.send(200, json.dumps(answer).encode("utf-8"))


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(PORTFILE + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.replace(PORTFILE + ".tmp", PORTFILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
