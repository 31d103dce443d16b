# The README's two commands: `make chat` (set up, then open the chat) and `make test` (set up, then every test).
VENV ?= .venv
PY := $(VENV)/bin/python
HANDBOOK := $(VENV)/bin/handbook

.PHONY: setup chat test browser bench lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	# the test extra's local LLM server, built for any x86-64 with AVX2 rather than this CPU: a native build uses
	# AMX tiles where the CPU lists them, which a VM may not grant (general protection fault); no cached native wheel
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install -q --no-cache-dir 'llama-cpp-python[server]==0.3.36'
	$(PY) -m pip install -q -e '.[test]'
	touch $@

chat: setup
	$(HANDBOOK) setup
	$(HANDBOOK) serve

browser:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

test: setup browser
	$(PY) -m pytest -q -ra
	$(MAKE) --no-print-directory lint

bench: setup
	$(PY) bench/run_all.py

lint: setup
	$(PY) -m ruff check assistant ingest ui evals tests handbook bench

clean:
	rm -rf $(VENV) .cache
