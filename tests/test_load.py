"""Load: 20+ simulated users against a running `handbook serve` on 127.0.0.1 (gradio_client, the app's /ask
API endpoint) for a bounded time: no failed request, every answer identical to the sequential one, p50/p95 printed.

HANDBOOK_LOAD_USERS and HANDBOOK_LOAD_SECONDS change the size; the server's limits are its settings
(HANDBOOK_CONCURRENCY, HANDBOOK_MAX_QUEUE), passed through the environment as a user would.
"""
from __future__ import annotations

import os
import random
import threading
import time

import pytest

pytest.importorskip("gradio_client")

USERS = int(os.environ.get("HANDBOOK_LOAD_USERS", "20"))
SECONDS = float(os.environ.get("HANDBOOK_LOAD_SECONDS", "30"))
QUESTIONS = [
    "Hvor stor en andel af de offentlige innovationer sker sammen med eksterne aktører?",
    "Hvor mange arbejdspladser svarede i undersøgelsen?",
    "Hvilket forlag udgav håndbogen?",
    "Hvad kan fonde bidrage med i et samarbejde?",
    "Hvilke barrierer er der for samarbejde med private virksomheder?",
    "Hvordan kan kommunen inddrage frivillige foreninger?",
    "Hvad bliver vejret i morgen?",
    "Hvilke kapitler har bogen?",
]


@pytest.fixture(scope="module")
def serve_env() -> dict[str, str]:
    """conftest's handbook_server runs with these limits and the Q&A log on."""
    return {"HANDBOOK_CONCURRENCY": "4", "HANDBOOK_MAX_QUEUE": "64", "HANDBOOK_LOG_ENABLED": "1"}


def _ask(client, question: str) -> dict:
    got = client.predict(question, None, None, api_name="/ask")  # the `handbook ask --json` object
    assert got["question"] == question and not got.get("error"), got
    return {"answer": got["answer"], "refused": got["refused"],
            "citations": [(c["source"], c["quote"], c["page"], c["lines"]) for c in got["citations"]]}


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@pytest.mark.slow
def test_many_users_at_once_get_the_sequential_answers(handbook_server):
    from gradio_client import Client

    server = handbook_server.url
    client = Client(server, verbose=False)
    reference, sequential = {}, []
    for q in QUESTIONS:
        started = time.perf_counter()
        reference[q] = _ask(client, q)
        sequential.append(time.perf_counter() - started)
    assert reference[QUESTIONS[0]]["citations"] and reference[QUESTIONS[-2]]["refused"]

    results: list[tuple[str, float, dict | None, str | None]] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    start_gate = threading.Barrier(USERS)

    def user(n: int) -> None:
        rnd = random.Random(n)
        mine = Client(server, verbose=False)
        start_gate.wait()
        first = True
        while first or time.monotonic() < stop:
            first = False
            q = rnd.choice(QUESTIONS)
            started = time.perf_counter()
            try:
                got, error = _ask(mine, q), None
            except Exception as exc:  # every failure is counted and shown, none may happen
                got, error = None, f"{type(exc).__name__}: {exc}"
            with lock:
                results.append((q, time.perf_counter() - started, got, error))

    threads = [threading.Thread(target=user, args=(n,)) for n in range(USERS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 300)
    wall = time.perf_counter() - began
    assert not any(t.is_alive() for t in threads), "a user never got an answer"
    latencies = [r[1] for r in results]
    print(f"\nload: {USERS} users, {len(results)} requests in {wall:.1f} s ({len(results) / wall:.2f}/s); "
          f"latency p50 {_pct(latencies, 50):.2f} s, p95 {_pct(latencies, 95):.2f} s, max {max(latencies):.2f} s; "
          f"sequential p50 {_pct(sequential, 50):.2f} s")
    failed = [r for r in results if r[3] is not None]
    assert not failed, failed[:3]
    different = [q for q, _, got, _ in results if got != reference[q]]
    assert not different, different[:3]
    assert len(results) >= USERS
