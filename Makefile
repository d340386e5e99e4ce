.PHONY: quickstart test lint format bench

quickstart:  ## build the offline city, train, evaluate, print the comparison table
	bash scripts/quickstart.sh

test:  ## the full offline test suite (what CI runs)
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench:
	.venv/bin/python benchmarks/run_all.py
