"""Load benchmarks for Comptoir (`make bench`, i.e. `python -m bench`); see bench/__main__.py."""
