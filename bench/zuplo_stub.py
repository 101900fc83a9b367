"""A stub of Zuplo's Developer API serving one generated bucket, for bench/import.sh.

Usage: python3 bench/zuplo_stub.py N PORT TOKEN
Serves account `bench`, bucket `bench-zuplo` (retrievable) of N consumers, each with one
`zpka_` key (the suffix the CRC-32 of the body, as Zuplo makes them), metadata, two tags and a
manager object, in pages of up to 1000 by `offset` until `total`. Requires
`Authorization: Bearer TOKEN` and the query `keyward import zuplo` sends. Deterministic: the
same N gives the same consumers and keys. Prints `requests: M` on stdout when stopped (SIGTERM).
"""
import hashlib
import json
import signal
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

n, port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
BASE = "/v1/accounts/bench/key-buckets/bench-zuplo"
STAMP = "2025-03-04T10:11:12.345Z"
plans = ["free", "silver", "gold"]
requests = 0


def key(i):
    body = hashlib.sha256(f"bench-{i}".encode()).hexdigest()[:32]
    return f"zpka_{body}_{zlib.crc32(body.encode()):08x}"


def consumer(i):
    return {
        "id": f"csmr_bench{i:06d}", "name": f"customer-{i:06d}", "description": f"Customer {i}",
        "tags": {"team": f"team-{i % 7}", "region": "eu" if i % 2 else "us"},
        "metadata": {"plan": plans[i % 3], "customerId": f"c{i}"},
        "createdOn": STAMP, "updatedOn": STAMP,
        "apiKeys": [{"id": f"key_bench{i:06d}", "key": key(i), "expiresOn": None,
                     "createdOn": STAMP, "updatedOn": STAMP}],
        "managers": [{"id": f"eusr_bench{i:06d}", "email": f"owner-{i}@customer-{i}.example",
                      "sub": f"auth0|{i}", "createdOn": STAMP}],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global requests
        requests += 1
        if self.headers.get("authorization") != f"Bearer {token}":
            return self.reply(401, {"title": "Unauthorized", "status": 401})
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == BASE:
            return self.reply(200, {"id": "bckt_bench", "name": "bench-zuplo", "isRetrievable": True,
                                    "createdOn": STAMP, "updatedOn": STAMP})
        if url.path != BASE + "/consumers" or q.get("key-format") != "visible" \
                or q.get("include-api-keys") != "true" or q.get("include-managers") != "true":
            return self.reply(400, {"title": "Bad Request", "status": 400, "detail": self.path})
        limit = min(int(q.get("limit", 1000)), 1000)
        offset = int(q.get("offset", 0))
        data = [consumer(i) for i in range(offset, min(offset + limit, n))]
        self.reply(200, {"data": data, "limit": limit, "offset": offset, "total": n})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)


def stop(*_):
    print(f"requests: {requests}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server.serve_forever()
