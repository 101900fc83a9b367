#!/usr/bin/env python3
"""A tree for `keyward scan`'s benchmark: many small source files and a few large logs,
with keys planted at random places (deterministic: seed 42).

Usage: bench/gen_scan_tree.py DIR [TOTAL_MB] [KEYS]   (defaults: 500 MB, 100 keys)

Writes DIR/src/**.{py,rs,js,go} (about 16 KB each, 80 % of the bytes), DIR/logs/*.log (four,
20 % of the bytes) and DIR/planted.txt (the planted keys' paths, one per line, for checking).
Text is snake_case code and log lines, so `_` (which every key contains) is common, as in
real code; a few look-alikes with bad checksums are planted too.
"""
import os
import random
import sys
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n, width):
    s = ""
    while n:
        n, r = divmod(n, 62)
        s = ALPHABET[r] + s
    return s.rjust(width, "0")


def key(rng, prefix="kw"):
    head = prefix + "_" + "".join(rng.choice(ALPHABET) for _ in range(32))
    return head + "_" + base62(zlib.crc32(head.encode()), 6)


WORDS = ("user_id request_body parse_header max_retries api_client http_status "
         "cache_ttl_seconds auth_token_name build_query fetch_orders total_count "
         "is_valid next_page_token read_config write_log retry_after err ctx self "
         "data value items result response request handler key_id consumer_name").split()


def code_line(rng):
    kind = rng.randrange(6)
    a, b, c = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
    if kind == 0:
        return f"    {a} = {b}({c}, {rng.randrange(10**6)})"
    if kind == 1:
        return f"def {a}_{b}(self, {c}_list, timeout_ms=3000):"
    if kind == 2:
        return f"    // {a} then {b}: keep {c} in sync with the __{a}__ table"
    if kind == 3:
        return f'    let {a}: Vec<{b.title()}> = {c}.iter().map(|x| x.{a}).collect();'
    if kind == 4:
        return f'    log.info("{a}={{}} {b}={{}}", {c}, "{rng.getrandbits(128):032x}")'
    return f"    if {a}_{b}_{c} > MAX_{a.upper()}: return None"


def log_line(rng):
    return (f"2026-11-30T05:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z INFO "
            f"req_id={rng.getrandbits(64):016x} path=/v1/{rng.choice(WORDS)} "
            f"status={rng.choice([200, 200, 200, 401, 404, 500])} dur_ms={rng.randrange(900)} "
            f"user_agent=client_{rng.choice(WORDS)}/1.2")


def main():
    out = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    nkeys = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    rng = random.Random(42)
    code_pool = [code_line(rng) for _ in range(5000)]
    log_pool = [log_line(rng) for _ in range(5000)]
    total_bytes = total * 1_000_000
    file_size = 16_000
    nfiles = int(total_bytes * 0.8) // file_size
    nlogs = 4
    log_size = int(total_bytes * 0.2) // nlogs
    # Which files get a key: spread over sources and logs.
    holders = rng.sample(range(nfiles + nlogs), nkeys)
    planted = []
    for i in range(nfiles + nlogs):
        if i < nfiles:
            ext = ("py", "rs", "js", "go")[i % 4]
            path = os.path.join(out, "src", f"m{i // 500:03d}", f"f{i:06d}.{ext}")
            pool, size = code_pool, file_size
        else:
            path = os.path.join(out, "logs", f"app{i - nfiles}.log")
            pool, size = log_pool, log_size
        lines = []
        filled = 0
        while filled < size:
            batch = rng.choices(pool, k=8)
            lines.extend(batch)
            filled += sum(len(l) + 1 for l in batch)
        n = len(lines)
        if i in holders:
            k = key(rng)
            lines[rng.randrange(n)] += f'  # API_KEY="{k}"'
            planted.append(path)
        if rng.random() < 0.05:  # a look-alike: right shape, wrong checksum
            bad = key(rng)
            lines[rng.randrange(n)] += f" token={bad[:-1]}{'A' if bad[-1] != 'A' else 'B'}"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("\n".join(lines))
            f.write("\n")
    with open(os.path.join(out, "planted.txt"), "w") as f:
        f.write("\n".join(sorted(planted)) + "\n")


if __name__ == "__main__":
    main()
