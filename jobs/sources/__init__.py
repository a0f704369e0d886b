"""Data sources: where the raw logs and catalogues come from before `ingest` turns them into bronze."""
