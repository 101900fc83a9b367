"""Sends requests with one key at a steady rate over one keep-alive connection.

Usage: python3 bench/paced.py BASE KEY PER_MINUTE SECONDS
Prints "sent admitted refused" (200s, 429s) when done. Used by bench/limits.sh to measure the
limits objects' calls per 1,000 verified requests at a consumer's own pace.
"""
import http.client
import sys
import time
import urllib.parse


def main() -> None:
    base, key, per_minute, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    gap = 60.0 / per_minute
    start = time.monotonic()
    sent = admitted = refused = 0
    while True:
        due = start + sent * gap
        now = time.monotonic()
        if due - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        conn.request("GET", "/orders", headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        response.read()
        sent += 1
        if response.status == 200:
            admitted += 1
        elif response.status == 429:
            refused += 1
        else:
            sys.exit(f"paced: unexpected status {response.status}")
    print(sent, admitted, refused)


if __name__ == "__main__":
    main()
