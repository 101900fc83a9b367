"""Writes a keys.yaml of N consumers for the plan/sync benchmarks (bench/sync.sh).

Usage: python3 bench/gen_keys.py N [BUCKET] > keys.yaml
Each consumer has a description, metadata a rate-limit rule could read, two tags and one or
two managers, like the repository's example. Deterministic: the same N gives the same file.
"""
import sys

n = int(sys.argv[1])
bucket = sys.argv[2] if len(sys.argv) > 2 else "default"
plans = [("free", 30), ("silver", 120), ("gold", 600)]
out = sys.stdout
out.write("# yaml-language-server: $schema=../schemas/keys.schema.json\n")
out.write(f"version: 1\nbuckets:\n  {bucket}:\n    description: generated for benchmarks\n    consumers:\n")
for i in range(n):
    plan, rpm = plans[i % 3]
    out.write(f"      customer-{i:06d}:\n")
    out.write(f"        description: Customer {i}\n")
    out.write(f"        metadata:\n          plan: {plan}\n          rateLimit:\n            requestsPerMinute: {rpm}\n")
    out.write(f"        tags:\n          team: team-{i % 7}\n          region: {'eu' if i % 2 else 'us'}\n")
    out.write(f"        managers:\n          - owner-{i}@customer-{i}.example\n")
    if i % 5 == 0:
        out.write("          - billing@keyward.example\n")
