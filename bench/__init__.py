"""Benchmarks: each module's ``run()`` returns its figures as dicts (``make bench``)."""
