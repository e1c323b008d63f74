"""The benchmark suite: the one way every quality and speed figure of tradeoff is produced.

    PYTHONPATH=src python -m benchmarks.suite --collection dev --seeds 3     # tune here
    PYTHONPATH=src python -m benchmarks.suite --collection eval --seeds 3    # report only
    PYTHONPATH=src python -m benchmarks.suite --smoke                        # CI: seconds per set

Two collections are declared in :mod:`benchmarks.suite.sets`: *dev*, where defaults and
rules may be tuned, and *eval*, only reported. Every (set, seed, limits, contender) run is
appended to the results file as it ends, so an interrupted invocation resumes where it
stopped; the RESULTS.md tables are regenerated from that file alone
(:mod:`benchmarks.suite.tables`). See docs/benchmarks.md.
"""
