#!/usr/bin/env python3
"""Writes examples/data/demo.tsv from tests/data/qa_coding.jsonl (run from the repo root).

The demo is a coding assistant's memory: the truths and distractors of a dozen
database and security questions from the QA set, with their real
all-MiniLM-L6-v2 embeddings, plus three questions the agent is asked.
Not part of the build: demo.tsv is committed.

Format, one record per line, fields separated by TAB:
  M <weight> <text> <384 space-separated floats>   a memory
  Q <text> <384 space-separated floats>            a query
Lines starting with # are comments. Texts contain no TAB or newline.
"""
import json

MEMORY_IDS = ["code_q16", "code_q17", "code_q18", "code_q19", "code_q20", "code_q21", "code_q22",
              "code_q31", "code_q32", "code_q33", "code_q34", "code_q35"]
QUERY_IDS = ["code_q18", "code_q32", "code_q9"]


def vec(v):
    return " ".join(f"{x:.6f}" for x in v)


def clean(t):
    assert "\t" not in t and "\n" not in t, t
    return t


records = {r["id"]: r for r in map(json.loads, open("tests/data/qa_coding.jsonl", encoding="utf-8"))}
with open("examples/data/demo.tsv", "w", encoding="utf-8", newline="\n") as out:
    out.write("# OV-Memory demo data, made by examples/data/make_demo_data.py from tests/data/qa_coding.jsonl\n")
    out.write("# (QA texts: MIT, Copyright (c) 2025 Vaibhav Prayaga; embeddings: all-MiniLM-L6-v2; see tests/data)\n")
    for rid in MEMORY_IDS:
        r = records[rid]
        for m in [r["truth"]] + r["distractors"]:
            out.write(f"M\t{m['metadata']['weight']}\t{clean(m['text'])}\t{vec(m['embedding'])}\n")
    for rid in QUERY_IDS:
        r = records[rid]
        out.write(f"Q\t{clean(r['query'])}\t{vec(r['query_embedding'])}\n")
