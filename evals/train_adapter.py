"""Fit the query adapter (assistant/answer/adapter.py) on the dev sets: `python -m evals.train_adapter [--holdout SET]`.

Each covered dev question whose candidate sentences hold a key fact is one example: the sentences are scored as
the assistant scores them (scorer.mixed + scorer.sentence_bonus) with the question vector mapped by W, and W is fitted
so that the fact-holding sentences win a softmax over the candidates, pulled toward the identity by STRENGTH.
`--holdout SET` fits on the other dev sets and prints how often the best sentence of SET's questions holds a fact,
without and with the map, and saves nothing: the check that the map carries over to questions written by other people.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant import Settings, load_settings
from assistant.answer.adapter import save_adapter
from assistant.answer.scorer import mixed

from .metrics import contains_fact
from .runner import AssistantEngine, load_questions, resolve_history
from .train_scorer import DEV_SETS

STRENGTH = 1.0        # weight of ||W - I||²: larger keeps the map nearer the identity (chosen by holding out a dev set)
TEMPERATURE = 0.02    # of the softmax over a question's candidates (cosines differ by hundredths)
EPOCHS = 60
LEARNING_RATE = 1e-3


def examples(settings: Settings, sets: Sequence[str]) -> list[dict[str, Any]]:
    """Per covered question with a fact among its candidates: the question vector, both views, bonuses, labels."""
    settings = settings.with_options(refusal_threshold=0.0, query_adapter=False)
    engine = AssistantEngine(settings, "adapter")
    assistant = engine.assistant
    documents = assistant.documents_language(assistant.retriever)
    out = []
    for name in sets:
        for q in load_questions(name):
            if not q["covered"]:
                continue
            found = assistant.retrieve(q["question"], resolve_history(engine, q.get("history") or []) or None)
            cands = found.candidates
            labels = np.array([any(contains_fact(c.text, f) for f in q.get("key_facts") or []) for c in cands])
            if not cands or not labels.any():
                continue
            pooled, alone = assistant.vectors(cands)
            cosine = mixed(np.array([c.alone for c in cands]), np.array([c.pooled for c in cands]))
            out.append({"set": name, "query": assistant.question_vector(found.question, found.query, found.language,
                                                                        documents),
                        "alone": alone, "pooled": pooled, "labels": labels,
                        "bonus": np.array([c.score for c in cands]) - cosine})
    return out


def fit(rows: Sequence[dict[str, Any]], strength: float = STRENGTH) -> np.ndarray:
    import torch

    torch.manual_seed(0)
    dim = len(rows[0]["query"])
    eye = torch.eye(dim)
    w = eye.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=LEARNING_RATE)
    data = [(torch.tensor(r["query"], dtype=torch.float32), torch.tensor(r["alone"], dtype=torch.float32),
             torch.tensor(r["pooled"], dtype=torch.float32), torch.tensor(r["bonus"], dtype=torch.float32),
             torch.tensor(r["labels"])) for r in rows]
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = torch.zeros(())
        for q, alone, pooled, bonus, labels in data:
            q = w @ q
            q = q / q.norm()
            s = (mixed(alone @ q, pooled @ q) + bonus) / TEMPERATURE
            loss = loss - (torch.logsumexp(s[labels], 0) - torch.logsumexp(s, 0))
        loss = loss / len(data) + strength * ((w - eye) ** 2).sum()
        loss.backward()
        opt.step()
    return w.detach().numpy()


def best_holds_fact(rows: Sequence[dict[str, Any]], w: np.ndarray | None) -> float:
    """Share of questions whose best-scored sentence holds a key fact."""
    hits = []
    for r in rows:
        q = r["query"] if w is None else w @ r["query"]
        q = q / np.linalg.norm(q)
        s = mixed(r["alone"] @ q, r["pooled"] @ q) + r["bonus"]
        hits.append(bool(r["labels"][int(np.argmax(s))]))
    return float(np.mean(hits))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.train_adapter", description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=list(DEV_SETS))
    parser.add_argument("--holdout", help="fit on the other sets, report on this one, save nothing")
    parser.add_argument("--strength", type=float, default=STRENGTH)
    args = parser.parse_args(argv)
    settings = load_settings()
    rows = examples(settings, args.sets)
    if args.holdout:
        held = [r for r in rows if r["set"] == args.holdout]
        w = fit([r for r in rows if r["set"] != args.holdout], args.strength)
        print(f"{args.holdout}: best sentence holds a fact {best_holds_fact(held, None):.3f} -> "
              f"{best_holds_fact(held, w):.3f} ({len(held)} questions; map fitted on the other sets)")
        return
    w = fit(rows, args.strength)
    save_adapter(settings.embed_model, w)
    print(f"fitted on {len(rows)} questions of {', '.join(args.sets)}: best sentence holds a fact "
          f"{best_holds_fact(rows, None):.3f} -> {best_holds_fact(rows, w):.3f}; saved for {settings.embed_model}")


if __name__ == "__main__":
    main()
