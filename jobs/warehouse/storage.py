"""Where things live: every table, staging folder and report location is a URI handled here, so
a warehouse can be a local folder, a `file://` URI or an object-store bucket (`s3://bucket/prefix`)
without a line elsewhere knowing which.

Three readers of one location each want their own spelling of it:
- delta-rs and pyarrow take `s3://bucket/key` and a plain absolute path;
- Spark's Hadoop S3 connector answers to `s3a://` only (`spark_uri`).
Object-store settings come from the standard AWS environment variables (`AWS_ENDPOINT_URL`,
`AWS_REGION`, `AWS_ACCESS_KEY_ID`, ...), which delta-rs and pyarrow read themselves and
`jobs.warehouse.spark` passes on to the S3 connector: one place to configure a bucket for every engine.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from pyarrow import fs

# Spark's Hadoop connector names S3 `s3a`; delta-rs and pyarrow name it `s3` (and accept only that).
_SPARK_SCHEMES = {"s3": "s3a"}
_CANONICAL_SCHEMES = {"s3a": "s3", "s3n": "s3"}


def scheme(location: str) -> str:
    """The URI scheme of a location ("" for a local path; a Windows drive letter is not a scheme)."""
    found = urlparse(location).scheme
    return found if len(found) > 1 else ""


def is_object_store(location: str) -> bool:
    return scheme(location) not in ("", "file")


def absolute(location: str) -> str:
    """The location in the form every reader shares: a local path (or `file://` URI) as an
    absolute path, an object-store URI with its canonical scheme and no trailing slash."""
    found = scheme(location)
    if found == "file":
        return os.path.abspath(urlparse(location).path)
    if not found:
        return os.path.abspath(location)
    rest = location[len(found) + 3:].rstrip("/")
    return f"{_CANONICAL_SCHEMES.get(found, found)}://{rest}"


def join(base: str, *parts: str) -> str:
    """`base` with path segments appended, '/'-separated whatever the storage."""
    return posixpath.join(absolute(base), *parts)


def parent(location: str) -> str:
    """The folder or prefix holding `location`; a bucket's root is its own parent."""
    uri = absolute(location)
    if not is_object_store(uri):
        return os.path.dirname(uri)
    found = scheme(uri)
    bucket_and_key = uri[len(found) + 3:]
    if "/" not in bucket_and_key:
        return uri
    return f"{found}://{posixpath.dirname(bucket_and_key)}"


def spark_uri(location: str) -> str:
    """The same location as Spark's Hadoop filesystems name it: `s3://` as `s3a://`, and a local
    path as a `file://` URI (a bare path would mean the cluster's default filesystem, often HDFS,
    while delta-rs and pyarrow took it as local)."""
    uri = absolute(location)
    found = scheme(uri)
    if not found:
        return f"file://{uri}"
    return f"{_SPARK_SCHEMES[found]}{uri[len(found):]}" if found in _SPARK_SCHEMES else uri


def filesystem(location: str) -> tuple[fs.FileSystem, str]:
    """A pyarrow filesystem for the location and the path to hand it (pyarrow reads the same
    AWS_* environment as delta-rs)."""
    from pyarrow import fs

    uri = absolute(location)
    if not is_object_store(uri):
        return fs.LocalFileSystem(), uri
    return fs.FileSystem.from_uri(uri)


def check_reachable(location: str) -> None:
    """Fail early, by name, when an object store cannot be reached (no keys, a wrong endpoint or
    region): delta-rs would otherwise fail later with a bare "Operation not supported"."""
    if not is_object_store(location):
        return
    from jobs.errors import StorageError

    try:
        exists(location)
    except (OSError, ValueError) as error:
        raise StorageError(
            f"storage.warehouse {location}: the object store cannot be reached ({str(error).splitlines()[0]}); "
            "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION, and AWS_ENDPOINT_URL for a store "
            "other than AWS (README: 'A warehouse in a bucket')") from error


def exists(location: str) -> bool:
    from pyarrow import fs

    filesystem_, path = filesystem(location)
    return filesystem_.get_file_info(path).type != fs.FileType.NotFound


def remove_tree(location: str) -> None:
    """Remove a folder or object-store prefix and everything under it; nothing there is fine."""
    if exists(location):
        filesystem_, path = filesystem(location)
        filesystem_.delete_dir(path)


def write_text_atomically(location: str, text: str) -> None:
    """Whole or not at all, so a reader never sees half a file. On an object store one upload is
    that already; a local file is written beside its name and renamed, and opened up to 0644 (a
    temporary file is private) so the team can read it."""
    uri = absolute(location)
    if is_object_store(uri):
        filesystem_, path = filesystem(uri)
        with filesystem_.open_output_stream(path) as out:
            out.write(text.encode("utf-8"))
        return
    os.makedirs(os.path.dirname(uri), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(uri), suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, uri)


def read_text(location: str) -> str:
    filesystem_, path = filesystem(location)
    with filesystem_.open_input_stream(path) as source:
        return source.read().decode("utf-8")
