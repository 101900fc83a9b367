"""Developer-API benchmark against the local Worker (run through bench/api.sh).

In one run: create N consumers with the bulk endpoint vs one request per consumer (requests
and wall time), then list them with and without a tag filter. Prints a markdown table.
Usage: python3 bench/api.py BASE_URL TOKEN [N]
"""
import http.client
import json
import sys
import time
from urllib.parse import urlparse

base, token = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
url = urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
requests = 0


def call(method, path, body=None):
    global requests
    requests += 1
    conn.request(method, f"/_keyward/v1/accounts/local{path}", body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def consumer(i):
    return {"name": f"consumer-{i:06d}", "tags": {"half": "even" if i % 2 == 0 else "odd"}, "metadata": {"plan": "gold"}, "managers": [f"owner{i % 97}@example.com"]}


for bucket in ("bulk-bench", "single-bench"):
    call("POST", "/key-buckets", {"name": bucket})

rows = []
requests = 0
start = time.perf_counter()
pending = [consumer(i) for i in range(n)]
while pending:
    batch, pending = pending[:250], pending[250:]
    out = call("POST", "/key-buckets/bulk-bench/consumers/$bulk", {"upsert": batch})
    by_name = {c["name"]: c for c in batch}
    pending += [by_name[r["name"]] for r in out["results"] if r["status"] == "deferred"]
bulk_time, bulk_requests = time.perf_counter() - start, requests

requests = 0
start = time.perf_counter()
for i in range(n):
    call("POST", "/key-buckets/single-bench/consumers", consumer(i))
single_time, single_requests = time.perf_counter() - start, requests


def list_all(query):
    global requests
    requests = 0
    start = time.perf_counter()
    offset, seen = 0, 0
    while True:
        page = call("GET", f"/key-buckets/bulk-bench/consumers?limit=1000&offset={offset}{query}")
        seen += len(page["data"])
        offset += 1000
        if offset >= page["total"]:
            return time.perf_counter() - start, requests, seen


plain_time, plain_requests, plain_seen = list_all("")
tag_time, tag_requests, tag_seen = list_all("&tag.half=even")
assert plain_seen == n and tag_seen == n // 2, (plain_seen, tag_seen)

print(f"| operation ({n} consumers) | requests | wall time (s) | ratio |")
print("| --- | ---: | ---: | ---: |")
print(f"| create, one request per consumer (baseline) | {single_requests} | {single_time:.1f} | 1.00 |")
print(f"| create, `$bulk` of 250 | {bulk_requests} | {bulk_time:.1f} | {bulk_time / single_time:.3f} |")
print(f"| list all, pages of 1000 (baseline) | {plain_requests} | {plain_time:.2f} | 1.00 |")
print(f"| list with `tag.half=even` ({tag_seen} match) | {tag_requests} | {tag_time:.2f} | {tag_time / plain_time:.2f} |")
