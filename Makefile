# The two commands of the README: `make demo` and `make test`. Each sets up what it needs first
# (scripts/bootstrap.sh): the demo the sede's runtime, the tests also Chromium, PostgreSQL and the test tools.
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup demo test bench

setup:
	@VENV=$(VENV) ./scripts/bootstrap.sh test

demo:
	@VENV=$(VENV) ./scripts/bootstrap.sh demo
	$(VENV)/bin/turnero demo --host $(HOST) --port $(PORT)

test:
	@VENV=$(VENV) ./scripts/bootstrap.sh test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The benchmarks drive Chromium and PostgreSQL like the tests do.
bench:
	@VENV=$(VENV) ./scripts/bootstrap.sh test
	$(VENV)/bin/python -m bench
