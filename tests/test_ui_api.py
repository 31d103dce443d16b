"""The chat server's endpoint for programs (/ask): a real `handbook serve`, called with gradio_client and with plain
HTTP, returns the same object as `handbook ask --json` for the same question (timings aside)."""
from __future__ import annotations

import json
import urllib.request

import pytest

from assistant import open_assistant
from ui import api

QUESTION = "Hvor mange arbejdspladser svarede i undersøgelsen?"


def without_timings(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "timings_ms"}


def cli_json(run_cli, home, *args: str) -> dict:
    result = run_cli("--home", str(home), "ask", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_gradio_client_gets_the_cli_object(handbook_server, model_env, run_cli):
    from gradio_client import Client

    client = Client(handbook_server.url, verbose=False)
    assert "/ask" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    got = client.predict(QUESTION, None, ["02-noegletal.md"], api_name="/ask")
    want = cli_json(run_cli, handbook_server.home, "--source", "02-noegletal.md", QUESTION)
    assert without_timings(got) == without_timings(want)
    assert got["citations"] and {c["source"] for c in got["citations"]} == {"02-noegletal.md"}
    follow = client.predict(question="Og hvad med fonde?", history=[[QUESTION, got["answer"]]], api_name="/ask")
    assert any(c["source"] == "09-fonde.md" for c in follow["citations"])


def test_plain_http_gets_the_cli_object(handbook_server, model_env, run_cli):
    body = json.dumps({"data": ["What is the weather tomorrow?", None, None]}).encode()
    request = urllib.request.Request(handbook_server.url + "gradio_api/call/ask", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        event = json.load(r)["event_id"]
    with urllib.request.urlopen(f"{handbook_server.url}gradio_api/call/ask/{event}", timeout=300) as r:
        lines = r.read().decode().splitlines()
    assert lines[0] == "event: complete", lines
    got = json.loads(lines[1].removeprefix("data: "))[0]
    want = cli_json(run_cli, handbook_server.home, "What is the weather tomorrow?")
    assert without_timings(got) == without_timings(want) and got["refused"] and got["language"] == "en"


def test_bad_input_gets_an_error_object_not_a_traceback(indexed_home):
    a = open_assistant(indexed_home)
    assert api.ask_json("", settings=indexed_home, assistant=a)["error"] == "Skriv et spørgsmål til håndbogen."
    assert api.ask_json("Hvad?", "not a list", settings=indexed_home, assistant=a)["error"] == api.BAD_HISTORY
    assert api.ask_json("Hvad?", None, "bog.pdf", settings=indexed_home, assistant=a)["error"] == api.BAD_SOURCES
    assert "nope.pdf" in api.ask_json("Hvad?", None, ["nope.pdf"], settings=indexed_home, assistant=a)["error"]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd"])
def test_no_path_reaches_a_file(indexed_home, name):
    out = api.ask_json("Hvad er Innovationsbarometeret?", None, [name], settings=indexed_home)
    assert "error" in out and "root:" not in json.dumps(out)
