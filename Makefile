# Quick start: `make run` starts the agent with embedded defaults; `make test` passes the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test

# IKE's port 500 is privileged: run as root it is used (what peers expect); otherwise the
# negotiator listens on UDP 5500 so that `make run` still starts. Override with RUN_ARGS.
ifeq ($(shell id -u),0)
RUN_ARGS ?=
else
RUN_ARGS ?= --ike-listen 0.0.0.0:5500
endif

.PHONY: venv run test lint bench fuzz clean

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(TESTING): $(RUNTIME)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(TESTING)

run: $(RUNTIME)
	$(BIN)/ike-agent run $(RUN_ARGS)

lint: $(TESTING)
	$(BIN)/ruff check .
	$(BIN)/mypy
	cd yang && ../$(BIN)/pyang --strict -p . *.yang

# Two workers (pytest-xdist): the suite waits on charon, SA lifetimes and subprocesses more
# than it computes, so files run side by side. TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2

test: $(TESTING)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(TESTING)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench $(ARGS)

# Coverage-guided fuzzing (tests/fuzz, FUZZING.md): each harness for FUZZ_TIME seconds, its
# corpus growing in fuzz-corpus/NAME (seeded from the harness). FUZZ_HARNESSES picks some.
FUZZ_TIME ?= 60
FUZZ_HARNESSES ?= netconf_session netconf_intake isakmp_codec ike_engine ike_certificates pki_pem ike_natt
FUZZING := $(VENV)/.installed-fuzz

$(FUZZING): $(TESTING)
	$(BIN)/pip install -q -e '.[fuzz]'
	touch $@

fuzz: $(FUZZING)
	for name in $(FUZZ_HARNESSES); do \
		$(BIN)/python -m tests.fuzz.run $$name -max_total_time=$(FUZZ_TIME) -timeout=10 \
			-rss_limit_mb=2048 -artifact_prefix=fuzz-corpus/$$name- fuzz-corpus/$$name \
			tests/fuzz/corpus/$$name || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info fuzz-corpus
