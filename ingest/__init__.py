"""Ingest: every feed takes one road — fetch, land raw, validate, load, record the run."""
