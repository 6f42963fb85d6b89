"""The measurements of a run, one module each (docs/benchmarks.md, "What is measured")."""
