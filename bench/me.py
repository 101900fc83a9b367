"""Self-serve benchmark against the local Worker (run through bench/me.sh).

Creates bucket `default` and 111 consumers: 1 managed by m1@, 10 by m10@, 100 by m100@
(each with one key), then times GET /v1/me/consumers for each manager, R requests each,
alternating managers so that drift hits all three alike. Prints a markdown table with the
mean and p50 per request and the ratio to the 1-consumer manager.
Usage: python3 bench/me.py BASE_URL TOKEN R TOKEN_M1 TOKEN_M10 TOKEN_M100
"""
import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlparse

base, token, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
me_tokens = dict(zip((1, 10, 100), sys.argv[4:7]))
url = urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)


def call(method, path, auth, body=None):
    headers = {"authorization": f"Bearer {auth}", "content-type": "application/json"}
    conn.request(method, f"/_keyward{path}", body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


account = "/v1/accounts/local/key-buckets"
call("POST", account, token, {"name": "default"})
upsert = []
for n in (1, 10, 100):
    for i in range(n):
        upsert.append({"name": f"m{n}-c{i:03}", "managers": [f"m{n}@bench.example"], "metadata": {"plan": "gold"}})
call("POST", f"{account}/default/consumers/$bulk", token, {"upsert": upsert})
for c in upsert:
    call("POST", f"{account}/default/consumers/{c['name']}/keys", token, {"description": "bench"})

for n, t in me_tokens.items():
    got = call("GET", "/v1/me/consumers", t)
    assert len(got["data"]) == n, (n, len(got["data"]))

times = {n: [] for n in me_tokens}
for _ in range(rounds):
    for n, t in me_tokens.items():
        start = time.perf_counter()
        call("GET", "/v1/me/consumers", t)
        times[n].append(time.perf_counter() - start)

base_mean = statistics.mean(times[1])
print("| manager of | requests | mean | p50 | mean vs 1 consumer |")
print("| ---: | ---: | ---: | ---: | ---: |")
for n, ts in times.items():
    print(f"| {n} | {len(ts)} | {statistics.mean(ts) * 1000:.2f} ms | {statistics.median(ts) * 1000:.2f} ms | {statistics.mean(ts) / base_mean:.2f} |")
print()
print(f"{rounds} rounds of GET /v1/me/consumers per manager, alternating; HS256 tokens; {time.strftime('%Y-%m-%d', time.gmtime())}")
