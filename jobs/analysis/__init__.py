"""Reading what the nightly job published: `explain` (why this quota?), `query` (the SQL files
over the Delta tables without Spark) and `fingerprint` (one digest per table, to compare two
warehouses)."""
