"""OV-Memory demo (Python). The same scenario, line for line, as the C, Rust,
Node, browser and Java demos: a real conversation (LoCoMo conv-26) stored as an
agent's memory, its questions asked of the engine and of plain cosine
similarity, a context within a token budget, and the health line.

    python examples/python/demo.py [examples/data/conversation.tsv]   (from the repository root)
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, NamedTuple

import numpy as np

from ov_memory import MemoryStore

if TYPE_CHECKING:
    from ov_memory._native import Hit

TOP = 3
CONTEXT_TOKENS = 120
DAY_MS = 86_400_000


class Question(NamedTuple):
    shown: bool
    text: str
    answer: str
    evidence: List[str]


def fmt3(x: float) -> str:
    """x with 3 decimals, rounded the same way in every language's demo."""
    k = int(np.floor(abs(x) * 1000.0 + 0.5))
    return f"{'-' if x < 0 and k > 0 else ''}{k // 1000}.{k % 1000:03d}"


def clip(text: str, n: int) -> str:
    """At most n characters (code points), with an ellipsis when cut."""
    return text if len(text) <= n else text[: n - 1] + "…"


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def main() -> None:
    root = Path(__file__).resolve().parents[2]
    tsv = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "examples" / "data" / "conversation.tsv"
    created: List[int] = []
    turn: List[str] = []
    texts: List[str] = []
    questions: List[Question] = []
    files: List[str] = []
    for line in tsv.read_text(encoding="utf-8").split("\n"):
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if f[0] == "V":
            files = f[1:3]
        elif f[0] == "M":
            created.append(int(f[1]))
            turn.append(f[2])
            texts.append(f[3])
        elif f[0] == "Q":
            questions.append(Question(f[1] == "1", f[2], f[3], f[4].split(",")))
    vectors = np.fromfile(root / files[0], dtype="<f4").reshape(len(texts), -1)
    qvectors = np.fromfile(root / files[1], dtype="<f4").reshape(len(questions), -1)
    dim = vectors.shape[1]

    print("OV-Memory demo: a long conversation as an agent's memory")
    print()
    print("Data: LoCoMo conversation conv-26 (CC BY-NC 4.0, non-commercial use only), "
          f"{len(texts)} turns between")
    print(f"Caroline and Melanie from {day(created[0])} to {day(created[-1])}. "
          "Each turn is one memory with its real date")
    print("and its all-MiniLM-L6-v2 embedding.")
    print()

    store = MemoryStore(embedding_dim=dim, max_nodes=1000)
    ids = store.add_batch(vectors, texts, created_at=created, metadata=[{"turn": t} for t in turn])
    by_id: Dict[int, int] = {id_: i for i, id_ in enumerate(ids)}
    now = created[-1] + DAY_MS  # "today" is the day after the last session
    print(f"Stored {len(store)} memories; the honeycomb links them with {store.metrics()['edge_count']} edges.")
    print()
    print("For each question: the engine's top 3 (the question's embedding and its words) and plain")
    print("cosine's top 3 (the embedding alone). score: the engine's score, how far the match stands")
    print("above the other memories plus small bounded priors (importance, recency, links); cos: cosine")
    print("similarity; *: the turn the dataset names as the evidence for its answer.")

    def show(label: str, hits: List["Hit"], name: str, value: Callable[["Hit"], float], evidence: List[str]) -> None:
        for k, h in enumerate(hits):
            i = by_id[h["id"]]
            mark = "*" if turn[i] in evidence else " "
            head = f"    {label if k == 0 else '':<6} {k + 1}. {mark} {turn[i]:<6} {day(created[i])}"
            print(f"{head}  {name} {fmt3(value(h))}  {clip(texts[i], 44)}")

    found_engine = found_cosine = 0
    for q, qv in zip(questions, qvectors):
        engine = store.retrieve(qv, text=q.text, top_k=TOP, now=now)
        cosine = store.retrieve(qv, top_k=TOP, alpha=1.0, now=now)
        found_engine += any(turn[by_id[h["id"]]] in q.evidence for h in engine)
        found_cosine += any(turn[by_id[h["id"]]] in q.evidence for h in cosine)
        if q.shown:
            print()
            print(f"Q: {q.text}")
            print(f"   the dataset's answer: {q.answer} (evidence: {', '.join(q.evidence)})")
            show("engine", engine, "score", lambda h: h["score"]["P"], q.evidence)
            show("cosine", cosine, "cos", lambda h: h["score"]["S"], q.evidence)
    print()
    print(f"All {len(questions)} questions of the conversation: the evidence is in the top 3 "
          f"for {found_engine} (engine)")
    print(f"and for {found_cosine} (plain cosine).")

    asked = next(i for i, q in enumerate(questions) if q.shown and len(q.evidence) > 1)
    ctx = store.context(qvectors[asked], text=questions[asked].text, max_tokens=CONTEXT_TOKENS, now=now)
    print()
    print(f"The context an agent would send for \"{questions[asked].text}\" within "
          f"{CONTEXT_TOKENS} tokens:")
    print(f"{len(ctx['items'])} memories, {ctx['tokens_used']} tokens (the best matches and their honeycomb "
          "neighbours, each with its date):")
    for item in ctx["items"]:
        i = by_id[item["id"]]
        mark = "*" if turn[i] in questions[asked].evidence else " "
        print(f"    {mark} {turn[i]:<6} {day(created[i])}  {clip(texts[i], 64)}")

    health = store.health()
    metrics = store.metrics()
    print()
    print(f"Health: {health['status']}, circuit breaker {health['circuit_breaker']}, "
          f"{metrics['error_count']} errors in {metrics['queries_processed']} calls.")


if __name__ == "__main__":
    main()
