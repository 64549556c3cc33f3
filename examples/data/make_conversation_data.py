#!/usr/bin/env python3
"""Writes examples/data/conversation.tsv from tests/data/locomo/conv01.json (run
from the repository root). Not part of the build: the file is committed.

The demo's scenario: a real long conversation (LoCoMo conv-26, Caroline and
Melanie, 19 sessions from May to October 2023; CC BY-NC 4.0, see
tests/data/locomo) stored as an agent's memory, one memory per turn with its
real date, and the conversation's questions asked of it. The embeddings are
the conversation's all-MiniLM-L6-v2 vectors in tests/data/locomo/conv01.*.f32
(row i of the file is memory or question i below).

Format, one record per line, fields separated by TAB (texts hold no TAB or newline):
  V <memory vectors file> <question vectors file> <dimension>   (paths from the repository root)
  M <created_at, Unix ms> <dialog id> <text>                    a memory, in vector-file order
  Q <shown: 1 or 0> <question> <dataset answer> <evidence dialog ids, comma-separated>
Lines starting with # are comments.
"""
import json

# The questions the demo prints in full (indices into the conversation's queries):
# a date, an inference, two facts far apart, and a fact (printed in file order).
SHOWN = [5, 90, 58, 22]


def clean(s: str) -> str:
    return " ".join(str(s).replace("\t", " ").split())


def main() -> None:
    conv = json.load(open("tests/data/locomo/conv01.json", encoding="utf-8"))
    out = [
        "# OV-Memory demo data, made by examples/data/make_conversation_data.py from tests/data/locomo/conv01.json.",
        "# LoCoMo (Maharana et al., ACL 2024), conversation conv-26: CC BY-NC 4.0, non-commercial use only;",
        "# see tests/data/locomo/README.md and LICENSE.txt. Embeddings: all-MiniLM-L6-v2.",
        "V\ttests/data/locomo/conv01.memories.f32\ttests/data/locomo/conv01.queries.f32\t384",
    ]
    for m in conv["memories"]:
        out.append(f"M\t{m['created_at_ms']}\t{m['dia_id']}\t{clean(m['text'])}")
    for i, q in enumerate(conv["queries"]):
        out.append(f"Q\t{int(i in SHOWN)}\t{clean(q['question'])}\t{clean(q['answer'])}\t{','.join(q['evidence'])}")
    with open("examples/data/conversation.tsv", "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
