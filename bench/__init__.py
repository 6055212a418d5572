"""The project's benchmarks (`make bench`): one JSON line per figure on the bundled data."""
