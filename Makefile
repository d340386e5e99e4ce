.PHONY: quickstart test test-fast lint format bench

quickstart:  ## build the offline city, train, evaluate, print the comparison table
	bash scripts/quickstart.sh

test:  ## the full offline test suite (what CI runs)
	bash scripts/test.sh

test-fast:  ## skip multi-process and end-to-end tests
	bash scripts/test.sh -m "not slow"

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench:
	for f in benchmarks/bench_*.py; do .venv/bin/python $$f || exit 1; done
