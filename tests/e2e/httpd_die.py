#!/usr/bin/env python3
"""A tiny scripted HTTP server on 127.0.0.1 for download tests.

Serves FILE at any path, and misbehaves on purpose (--mode):
  die           the first request gets the full Content-Length but only
                --after bytes, then the connection is closed; later requests
                are served properly and honour "Range: bytes=START-" (206)
  stall         like die, but instead of closing it stops sending and holds
                the connection open (--stall seconds) on the first request
  ignore-range  always 200 with the whole file, whatever Range asks
  more          sends the file and --extra bytes more (Content-Length says so)
  redirect      answers 302 with Location: --location
  trickle       sends --after bytes at once, then 1000 bytes every 0.5 s:
                never silent for long, never done in time
  plain         serves the file properly (Range honoured)

It writes its port to --port-file once it listens, logs one line a request
to --log ('GET PATH range=... ua=... auth=...'), and exits by itself after
--max-seconds (default 300), so that a test that dies leaves nothing behind.
"""
import argparse
import http.server
import os
import re
import socket
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--mode", default="plain",
                   choices=["die", "stall", "ignore-range", "more", "redirect", "plain",
                            "trickle"])
    p.add_argument("--after", type=int, default=1000000)
    p.add_argument("--extra", type=int, default=65536)
    p.add_argument("--stall", type=float, default=60)
    p.add_argument("--location", default="")
    p.add_argument("--max-seconds", type=float, default=300)
    return p.parse_args()


ARGS = parse_args()
STATE = {"requests": 0}
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request a connection

    def log_message(self, fmt, *args):  # quiet on stderr
        pass

    def note(self):
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
            with open(ARGS.log, "a") as f:
                f.write("GET %s range=%s ua=%s auth=%s\n" % (
                    self.path, self.headers.get("Range", "-"),
                    self.headers.get("User-Agent", "-"),
                    self.headers.get("Authorization", "-")))
        return n

    def send_bytes(self, data, limit=None):
        view = memoryview(data)
        if limit is not None:
            view = view[:limit]
        for i in range(0, len(view), 65536):
            self.wfile.write(view[i:i + 65536])
        self.wfile.flush()

    def head_ok(self, status, length, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def serve_range(self, data):
        m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        start = int(m.group(1)) if m else 0
        if m and start >= len(data):
            self.head_ok(416, 0, {"Content-Range": "bytes */%d" % len(data)})
            return
        if m:
            self.head_ok(206, len(data) - start,
                         {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))})
        else:
            self.head_ok(200, len(data))
        self.send_bytes(data[start:])

    def cut(self, data, stall):
        self.head_ok(200, len(data))
        self.send_bytes(data, ARGS.after)
        if stall:
            time.sleep(ARGS.stall)
        self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self):
        n = self.note()
        with open(ARGS.file, "rb") as f:
            data = f.read()
        mode = ARGS.mode
        try:
            if mode in ("die", "stall") and n == 1:
                self.cut(data, mode == "stall")
            elif mode == "ignore-range":
                self.head_ok(200, len(data))
                self.send_bytes(data)
            elif mode == "more":
                junk = os.urandom(ARGS.extra)
                self.head_ok(200, len(data) + len(junk))
                self.send_bytes(data + junk)
            elif mode == "trickle":
                self.head_ok(200, len(data))
                self.send_bytes(data, ARGS.after)
                pos = ARGS.after
                while pos < len(data):
                    time.sleep(0.5)
                    self.wfile.write(data[pos:pos + 1000])
                    self.wfile.flush()
                    pos += 1000
            elif mode == "redirect":
                self.send_response(302)
                self.send_header("Location", ARGS.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.serve_range(data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client gave up (as it should, e.g. on too many bytes)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    port = srv.server_address[1]
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, ARGS.port_file)
    timer = threading.Timer(ARGS.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
