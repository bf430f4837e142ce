"""Request records: every field survives the round trip, and a crashed writer loses only its last batch."""

import pyarrow as pa

from loadgen.records import SCHEMA, Record, RecordWriter, read_file, read_records


def record(n: int, outcome: str = "ok") -> Record:
    return Record(
        start_us=1_700_000_000_000_000 + n,
        latency_ms=0.25 + n,
        connect_ms=None if n % 2 else 3.5,
        outcome=outcome,
        error_class=None,
        error_text=None,
        workload="point",
        mode="per-query",
        protocol="simple" if n % 2 else "extended",
        site="spb",
        user=n,
        process="vm:1",
        connection=f"vm:1/u{n}/c1",
        new_connection=bool(n % 2 == 0),
        balancer="PgBAL2",
        backend="PgSQL3",
        balancer_address="198.18.0.95",
        backend_address="198.18.0.93",
    )


def test_schema_follows_the_record():
    assert SCHEMA.names == list(Record._fields)


def test_round_trip_keeps_every_field_and_sub_millisecond_latency(tmp_path):
    writer = RecordWriter(tmp_path, "requests", "spb")
    for n in range(3):
        writer.add(record(n))
    writer.flush()
    writer.add(record(3, outcome="timeout"))
    writer.close()
    frame = read_records(tmp_path)
    assert len(frame) == 4 and writer.written == 4
    assert list(frame.latency_ms) == [0.25, 1.25, 2.25, 3.25]
    assert list(frame.outcome) == ["ok", "ok", "ok", "timeout"]
    assert frame.connect_ms.isna().tolist() == [False, True, False, True]
    row = {k: (None if v != v else v) for k, v in frame.iloc[2].to_dict().items()}  # pandas says NaN for null
    assert row == record(2)._asdict()


def test_a_torn_file_keeps_its_complete_batches(tmp_path):
    writer = RecordWriter(tmp_path, "requests", "msk")
    writer.add(record(0))
    writer.flush()
    writer.add(record(1))
    writer.flush()
    size = writer.path.stat().st_size
    writer._sink.close()  # the process died: no end-of-stream marker
    with open(writer.path, "r+b") as f:
        f.truncate(size - 10)  # and the last batch is torn
    assert len(read_file(writer.path)) == 1


def test_kinds_are_read_apart(tmp_path):
    for kind in ("requests", "probe"):
        writer = RecordWriter(tmp_path, kind, "main")
        writer.add(record(0))
        writer.close()
    assert len(read_records(tmp_path, "requests")) == 1
    assert len(read_records(tmp_path, "probe")) == 1
    assert len(read_records(tmp_path / "none")) == 0


def test_files_from_before_the_protocol_column_read_as_extended(tmp_path):
    """Every request was extended before the loadgen had a simple protocol; old and new files read together."""
    old_schema = SCHEMA.remove(SCHEMA.get_field_index("protocol"))
    old = record(0)._asdict()
    del old["protocol"]
    old_file = tmp_path / "requests-main-vm-1.arrows"
    with pa.OSFile(str(old_file), "wb") as sink, pa.ipc.new_stream(sink, old_schema) as writer:
        writer.write_batch(pa.RecordBatch.from_pylist([old], schema=old_schema))
    writer = RecordWriter(tmp_path, "requests", "main")
    writer.add(record(1))
    writer.close()
    frame = read_records(tmp_path)
    assert list(frame.columns) == SCHEMA.names
    assert sorted(zip(frame.user, frame.protocol)) == [(0, "extended"), (1, "simple")]
