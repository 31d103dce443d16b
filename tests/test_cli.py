"""The `handbook` command through click's runner (conftest's run_cli): exit codes, one-line errors, the --json
contract. (That README names every command is checked in test_architecture.py.)"""
import json
import re


def test_ask_before_any_ingest_says_what_to_run(tmp_path, model_env, run_cli):
    result = run_cli("--home", str(tmp_path), "ask", "Hvem skrev bogen?")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Nothing is indexed yet: run `handbook ingest` first."


def test_ask_json_contract(indexed_home, model_env, run_cli):
    result = run_cli("--home", str(indexed_home.home), "ask", "--json",
                     "Hvor mange arbejdspladser svarede i undersøgelsen?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"question", "answer", "refused", "citations", "timings_ms"} <= set(data)
    assert data["refused"] is False
    cit = data["citations"][0]
    assert {"n", "source", "chapter", "section", "page", "quote"} <= set(cit)
    assert cit["page"] is None and cit["lines"]
    assert "2.363" in " ".join(c["quote"] for c in data["citations"])
    assert {"retrieval", "answer", "total"} <= set(data["timings_ms"])


def test_ask_reads_one_question_per_line_from_stdin(indexed_home, model_env, run_cli):
    questions = "Hvem har skrevet håndbogen?\n\nHvad bliver vejret i morgen?\n"
    result = run_cli("--home", str(indexed_home.home), "ask", "--json", input=questions)
    assert result.exit_code == 0
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["Hvem har skrevet håndbogen?", "Hvad bliver vejret i morgen?"]
    assert [a["refused"] for a in answers] == [False, True]


def test_ask_prints_answer_and_sources(indexed_home, model_env, run_cli):
    result = run_cli("--home", str(indexed_home.home), "ask", "Hvilket forlag udgav håndbogen?")
    assert result.exit_code == 0
    assert "Dansk Psykologisk Forlag" in result.stdout
    assert "Kilder:" in result.stdout and re.search(r"\[1\] \S+\.md · kap\. ", result.stdout)


def test_too_long_question_is_one_line(indexed_home, model_env, run_cli):
    result = run_cli("--home", str(indexed_home.home), "ask", "ord " * 600)
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1


def test_ingest_reports_bad_files_and_exits_non_zero(tmp_path, model_env, run_cli):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "god.md").write_text("# Titel\n\nEn god sætning om samarbejde med fonde.\n", encoding="utf-8")
    (docs / "tom.md").write_bytes(b"")
    result = run_cli("--home", str(tmp_path / "home"), "ingest", str(docs))
    assert result.exit_code == 1
    assert "tom.md" in result.stderr and "empty" in result.stderr
    assert "Indexed 2 files (1 new or changed" in result.stdout
    again = run_cli("--home", str(tmp_path / "home"), "ingest", "--json", str(docs / "god.md"))
    assert again.exit_code == 0 and json.loads(again.stdout)["embedded"] == 0


def test_toc_and_remove(tmp_path, model_env, run_cli):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Kapitel 1 Alfa\n\nTekst.\n\n## Del\n\nMere tekst her.\n", encoding="utf-8")
    home = str(tmp_path / "home")
    assert run_cli("--home", home, "ingest", str(docs)).exit_code == 0
    toc = run_cli("--home", home, "toc")
    assert "1. Kapitel 1 Alfa  (a.md)" in toc.stdout and "    Del" in toc.stdout
    removed = run_cli("--home", home, "remove", "a.md")
    assert removed.exit_code == 0 and "Removed a.md" in removed.stdout
    missing = run_cli("--home", home, "remove", "a.md")
    assert missing.exit_code == 1 and "Not in the index: a.md" in missing.stderr



def test_ingesting_the_corpus_folder_by_path_leaves_out_its_readme(tmp_path, model_env, run_cli):
    from ingest.run import bundled_corpus

    result = run_cli("--home", str(tmp_path / "home"), "ingest", "--json", str(bundled_corpus()))
    assert result.exit_code == 0, result.stderr
    sources = json.loads(result.stdout)["indexed_sources"]
    assert "README.md" not in sources and "01-om-bogen.md" in sources


def _home_with(tmp_path, run_cli, name: str, text: str) -> str:
    """A data dir holding one document, ingested through the CLI."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / name).write_text(text, encoding="utf-8")
    home = str(tmp_path / "home")
    assert run_cli("--home", home, "ingest", str(docs)).exit_code == 0
    return home


def test_toc_names_a_documents_author_once(tmp_path, model_env, run_cli):
    home = _home_with(tmp_path, run_cli, "rapport.html",
                      '<html><head><meta name="author" content="Anna Holm"><title>Rapport</title></head><body>'
                      "<h1>1. Baggrund</h1><p>Kommunen samarbejder med borgerne om nye løsninger i ældreplejen.</p>"
                      "<h1>2. Resultater</h1><p>Tre ud af fire projekter gav bedre kvalitet for borgerne.</p>"
                      "</body></html>")
    toc = run_cli("--home", home, "toc")
    chapters = [line for line in toc.stdout.splitlines() if "(rapport.html" in line]
    assert toc.exit_code == 0 and len(chapters) == 2, toc.stdout
    assert "Anna Holm" in chapters[0] and chapters[1].endswith("(rapport.html)"), toc.stdout


def test_an_english_document_is_quoted_without_the_danish_frame(tmp_path, model_env, run_cli):
    home = _home_with(
        tmp_path, run_cli, "cluster.md",
        "# 1. Compute node sanitization\n\n"
        "It is important to sanitize the compute node so that data from previous jobs are not leaked. "
        "The scheduler wipes local scratch disks and GPU memory between jobs. "
        "Examples of compute node sanitization between jobs include:\n\n"
        "- wiping the local scratch disks\n- clearing the memory of the accelerators\n\n"
        "# 2. Network segmentation\n\n"
        "The cluster is divided into four zones: access, management, compute and data storage. "
        "Only the access zone is reachable from the internet.\n\n"
        "# 3. Backups\n\nIs the data of the users backed up on the cluster? "
        "User data on the cluster is often not backed up, so users keep their own copies.\n")
    english = run_cli("--home", home, "ask", "Why is it important to sanitize the compute node between jobs?")
    assert english.exit_code == 0 and "sanitize the compute node" in english.stdout, english.stdout
    assert "in Danish" not in english.stdout and "Sources:" in english.stdout
    assert "include:" not in english.stdout, "a sentence announcing a list is no answer without its items"
    assert "cluster.md · ch. 1. Compute node sanitization · line" in english.stdout, english.stdout
    backups = run_cli("--home", home, "ask", "Is user data backed up on the cluster?")
    assert "often not backed up" in backups.stdout and "?»" not in backups.stdout, "a sentence that asks is no answer"
    danish = run_cli("--home", home, "ask", "Hvorfor er det vigtigt at rense compute node mellem jobs?")
    assert danish.exit_code == 0 and danish.stdout.startswith("Kilderne er på engelsk"), danish.stdout
    assert "cluster.md · kap. 1. Compute node sanitization · linje" in danish.stdout, danish.stdout


def test_an_english_question_of_an_english_document_takes_the_same_language_threshold(tmp_path, model_env, run_cli):
    from assistant import load_settings, open_assistant
    from assistant.model.calibration import ACROSS_LANGUAGES, SAME_LANGUAGE, threshold_language

    home = _home_with(tmp_path, run_cli, "cluster.md",
                      "# 1. Backups\n\nUser data on the cluster is often not backed up, so users keep their own "
                      "copies. The scheduler wipes local scratch disks between jobs.\n")
    assistant = open_assistant(load_settings({}, home=home, embed_model=str(model_env)))
    english = assistant.retrieve("Is user data backed up on the cluster?")
    danish = assistant.retrieve("Bliver brugernes data taget backup af på klyngen?")
    assert (english.language, english.documents) == ("en", "en")
    assert threshold_language(english.language, english.documents) == SAME_LANGUAGE
    assert threshold_language(danish.language, danish.documents) == ACROSS_LANGUAGES
    keywords = assistant.retrieve("scratch disks wipe jobs?")  # no function word of either language
    assert keywords.language == "en"
