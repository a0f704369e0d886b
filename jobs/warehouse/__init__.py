"""The warehouse layer: where tables live and how they are read and written.

`tables` is the registry (every table's layer, schema, partitioning and description),
`tables_doc` renders it; `storage` resolves URIs (a folder, file://, s3://); `io` does every
read and every one-commit write; `quality` holds the great-expectations suites of the publish
gate; `catalog` puts the tables behind Spark SQL views; `feed_reader` is the feed's read
contract without Spark; `spark` and `delta_jars` make the SparkSession and its jars;
`failpoints` lets tests crash a run at each commit point.
"""
