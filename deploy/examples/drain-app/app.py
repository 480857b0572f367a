"""A minimal HTTP app that speaks lameduck's drain protocol (stdlib only).

  GET  /                             the app's own work (takes ?ms= milliseconds)
  POST /lameduck/drain               stop taking new work; close kept-alive connections
  GET  /lameduck/status              {"inflight": n, "connections": 0, "queued": 0}
  GET  /lameduck/compensations       pending Saga compensations to hand off
  POST /lameduck/compensations/ack   {"ids": [...]}: lameduck stored them durably
  POST /lameduck/terminate           last call before SIGTERM
"""
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
state = {"inflight": 0, "draining": False}
# Work that a real app would have to undo if it stops half-way.
pending = {c["id"]: c for c in [
    {"id": str(uuid.uuid4()), "saga_id": "order-42", "step": "reserve-stock",
     "action": "release-stock", "payload": {"sku": "A-1", "qty": 2}},
]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if state["draining"]:
            self.send_header("Connection", "close")  # lets the quiet period see the end
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/lameduck/status":
            with lock:
                return self.reply(200, {"inflight": state["inflight"], "connections": 0, "queued": 0})
        if url.path == "/lameduck/compensations":
            with lock:
                return self.reply(200, {"compensations": list(pending.values())})
        with lock:
            state["inflight"] += 1
        try:
            time.sleep(int(parse_qs(url.query).get("ms", ["50"])[0]) / 1000)
            self.reply(200, {"ok": True})
        finally:
            with lock:
                state["inflight"] -= 1

    def do_POST(self):
        if self.path == "/lameduck/drain":
            state["draining"] = True
            return self.reply(200, {"draining": True})
        if self.path == "/lameduck/compensations/ack":
            with lock:
                for i in self.body().get("ids", []):
                    pending.pop(i, None)
            return self.reply(200, {"acked": True})
        if self.path == "/lameduck/terminate":
            return self.reply(200, {"bye": True})
        self.reply(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
