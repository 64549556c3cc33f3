#!/usr/bin/env python3
"""Checks what the original C usage example printed (tests/original-examples):
ov_memory_add returned 0 ("Added node: 1") and the health line is complete,
valid JSON that fits the example's 512-byte buffer, with every key of the health report.
With --healthy the status must be HEALTHY."""
import json
import sys

args = sys.argv[1:]
healthy = "--healthy" in args
paths = [a for a in args if a != "--healthy"]
assert paths, "usage: check_original_output.py [--healthy] OUTPUT..."
for path in paths:
    lines = open(path, encoding="utf-8").read().splitlines()
    assert lines[0] == "Added node: 1", f"{path}: {lines[0]!r}"
    assert lines[1].startswith("Health: "), f"{path}: {lines[1]!r}"
    text = lines[1][len("Health: "):]
    assert len(text.encode()) < 512, f"{path}: {len(text)} bytes"
    health = json.loads(text)
    for key in ["status", "error_rate_pct", "circuit_breaker", "reasons", "metrics", "timestamp"]:
        assert key in health, f"{path}: no {key}"
    assert health["metrics"]["nodes"] == 1, path
    assert health["circuit_breaker"] == "CLOSED", path
    if healthy:
        assert health["status"] == "HEALTHY", f"{path}: {health}"
    print(f"{path}: ok ({health['status']}, {len(text)} bytes)")
