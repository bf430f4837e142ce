"""Every request, recorded: one row per request, written incrementally as Arrow IPC streams.

Each process appends rows in memory and writes them as one record batch about every second, so a
crash loses at most the last second. pandas reads a directory of such files with `read_records`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
WRONG_ANSWER = "wrong_answer"
OUTCOMES = (OK, ERROR, TIMEOUT, WRONG_ANSWER)
SUFFIX = ".arrows"


def from_machine(file_name: str, machine: str) -> str:
    """A records file's name once fetched from another machine (bench run --inventory): KIND-MACHINE-REST,
    so that two machines' files never share a name and the readers still find them by their kind."""
    kind, _, rest = file_name.partition("-")
    return f"{kind}-{machine}-{rest}"


PROTOCOL_BEFORE_ITS_COLUMN = "extended"  # loadgen.client.EXTENDED: the only protocol of files without `protocol`


class Record(NamedTuple):
    """One request as the client saw it (a tuple: cheap to make on the hot path, a row as it is)."""

    start_us: int  # wall clock (time.time_ns() // 1000) when the request started
    latency_ms: float  # until the answer (or the failure); includes connecting when new_connection
    connect_ms: float | None  # the connect part, when this request opened a connection
    outcome: str  # one of OUTCOMES
    error_class: str | None
    error_text: str | None
    workload: str
    mode: str  # persistent or per-query
    protocol: str  # extended or simple (PostgreSQL's query protocols)
    site: str
    user: int  # the Locust user within its process; for the probe, the tick number
    process: str  # host:pid of the recording process
    connection: str  # connection id, unique within the process
    new_connection: bool
    balancer: str | None  # stand host name of the balancer (the address the backend saw as its client)
    backend: str | None  # stand host name of the backend that answered
    balancer_address: str | None
    backend_address: str | None
    scheduled_us: int | None = None  # the probe's: when its schedule had it start (open loop); None for users
    path: str | None = None  # the probe's: the path its source port takes (the balancer it reached when found)


SCHEMA = pa.schema(
    [
        ("start_us", pa.int64()),
        ("latency_ms", pa.float64()),
        ("connect_ms", pa.float64()),
        ("outcome", pa.string()),
        ("error_class", pa.string()),
        ("error_text", pa.string()),
        ("workload", pa.string()),
        ("mode", pa.string()),
        ("protocol", pa.string()),
        ("site", pa.string()),
        ("user", pa.int32()),
        ("process", pa.string()),
        ("connection", pa.string()),
        ("new_connection", pa.bool_()),
        ("balancer", pa.string()),
        ("backend", pa.string()),
        ("balancer_address", pa.string()),
        ("backend_address", pa.string()),
        ("scheduled_us", pa.int64()),
        ("path", pa.string()),
    ]
)
assert SCHEMA.names == list(Record._fields)


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RecordWriter:
    """Buffers records of one process and appends them to its own stream file on `flush`.

    Not thread-safe: one thread adds and flushes (a Locust process's greenlets, or the probe's loop).
    """

    def __init__(self, directory: Path, kind: str, site: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{kind}-{site}-{socket.gethostname()}-{os.getpid()}{SUFFIX}"
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, SCHEMA)
        self._rows: list[Record] = []
        self.written = 0

    def add(self, record: Record) -> None:
        self._rows.append(record)

    def flush(self) -> None:
        """Write what was added since the last flush as one record batch."""
        if not self._rows:
            return
        columns = list(zip(*self._rows))
        self._rows = []
        batch = pa.record_batch([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA)], schema=SCHEMA)
        self._writer.write_batch(batch)
        self._sink.flush()
        self.written += batch.num_rows

    def close(self) -> None:
        self.flush()
        self._writer.close()
        self._sink.close()


def read_file(path: Path, encoded: tuple[str, ...] = ()) -> pa.Table:
    """Every complete batch of one stream, also of a file whose writer crashed mid-way; the `encoded`
    columns dictionary-encoded as each batch is read (a run's strings never all in memory at once)."""
    batches = []
    schema = SCHEMA
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = pa.ipc.open_stream(source)
            schema = reader.schema
            for batch in reader:
                batches.append(_encoded(batch, encoded))
        except (pa.ArrowInvalid, OSError):
            pass  # a torn last batch: keep what came before it
    schema = pa.schema([_encoded_field(f, encoded) for f in schema])
    return _with_later_columns(pa.Table.from_batches(batches, schema=schema), encoded)


def _encoded_field(field: pa.Field, names: tuple[str, ...]) -> pa.Field:
    return pa.field(field.name, pa.dictionary(pa.int16(), field.type)) if field.name in names else field


def _encoded(batch: pa.RecordBatch, names: tuple[str, ...]) -> pa.RecordBatch:
    """The batch with the `names` columns dictionary-encoded and the others copied: a batch read from a
    stream is one buffer, which any column left as it is would keep whole."""
    if not names:
        return batch
    arrays = [
        c.dictionary_encode().cast(_encoded_field(f, names).type) if f.name in names else pa.concat_arrays([c])
        for f, c in zip(batch.schema, batch.columns)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _with_later_columns(table: pa.Table, encoded: tuple[str, ...] = ()) -> pa.Table:
    """A table of a file written before a column was added, with it: `protocol` (every request was extended
    then), `scheduled_us` and `path` (not recorded: null); dictionary-encoded when `encoded` names it."""

    def column(name: str, values: pa.Array) -> tuple[pa.Field, pa.Array]:
        field = _encoded_field(SCHEMA.field(name), encoded)
        return field, values.dictionary_encode().cast(field.type) if name in encoded else values

    if "protocol" not in table.column_names:
        field, values = column("protocol", pa.array([PROTOCOL_BEFORE_ITS_COLUMN] * table.num_rows, type=pa.string()))
        table = table.add_column(SCHEMA.get_field_index("protocol"), field, values)
    if "scheduled_us" not in table.column_names:
        table = table.append_column(*column("scheduled_us", pa.nulls(table.num_rows, pa.int64())))
    if "path" not in table.column_names:
        table = table.append_column(*column("path", pa.nulls(table.num_rows, pa.string())))
    return table


# Columns of few distinct values, read as pandas categoricals (one byte a row instead of an object's pointer):
# 10M records fit a report's memory. The others (`connection`, unique per per-query request; `error_text`,
# free text) stay strings. Code that groups or counts them passes observed=True or drops zero counts.
CATEGORICAL = (
    "outcome", "error_class", "workload", "mode", "protocol", "site", "process", "balancer", "backend",
    "balancer_address", "backend_address", "path",
)  # fmt: skip


def read_records(directory: Path, kind: str = "requests"):
    """All records of one kind (`requests` or `probe`) in a directory, as a pandas DataFrame (`frame_of`)
    in the order they started."""
    tables = [read_file(p, CATEGORICAL) for p in sorted(Path(directory).glob(f"{kind}-*{SUFFIX}"))]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    del tables
    starts = table.column("start_us").to_numpy()
    order = None
    if len(starts) > 1 and not bool(np.all(starts[1:] >= starts[:-1])):  # written as they ended, not started
        order = pa.array(np.argsort(starts, kind="stable"))
    del starts
    columns = dict(zip(table.column_names, table.columns))
    del table  # the columns are freed one by one as they are converted
    return _frame(columns, order)


def frame_of(table: pa.Table):
    """Records as the reports read them: a pandas DataFrame, the CATEGORICAL columns as categoricals."""
    return _frame(dict(zip(table.column_names, table.columns)), None)


def _frame(columns: dict[str, pa.ChunkedArray], order: pa.Array | None):
    """The columns (taken out of the dict as each is converted, so that each is freed then: a 10M-record run
    never holds two copies of its records) as a DataFrame, its rows in `order` (None: as they are)."""
    import pandas as pd  # here: the loadgen's processes write records and never need pandas

    converted = {}
    for name in list(columns):
        column = columns.pop(name)
        if name in CATEGORICAL and not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        if order is not None:
            column = column.take(order)
        converted[name] = column.to_pandas()
        del column
        pa.default_memory_pool().release_unused()
    return pd.DataFrame(converted, copy=False)
