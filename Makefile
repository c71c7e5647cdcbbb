# The two commands of the README: `make demo` and `make test`. Both set everything up first.
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup demo test bench

setup:
	./scripts/bootstrap.sh

demo: setup
	$(VENV)/bin/turnero demo --host $(HOST) --port $(PORT)

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python -m bench
