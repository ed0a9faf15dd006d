"""TFRecord framing, CRC32C and the SequenceExample decoder, on files written from the spec."""

import io
import re

import numpy as np
import pytest

from avt_np.data import protobuf as pb
from avt_np.data.tfrecord import (TFRecordError, crc32c, crc32c_batch, mask, read_records,
                                  write_record)

try:
    from tests.data import tfrecord_writer as tw
except ImportError:                      # pytest run with tests/data itself on sys.path
    import tfrecord_writer as tw


def records(blob, **kw):
    return [payload for _, payload in read_records(io.BytesIO(blob), "f.tfrecord", **kw)]


# -- CRC32C ------------------------------------------------------------------------------------

def test_crc32c_matches_the_standard_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert tw.crc32c_bitwise(b"123456789") == 0xE3069283      # the helper follows the spec too


def test_crc32c_matches_rfc3720_test_vectors():
    # RFC 3720, appendix B.4
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


def test_crc32c_batch_matches_bitwise_crc_for_lengths_around_chunk_edges():
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    lengths = [0, 1, 7, 8, 127, 128, 129, 255, 256, 257, 1000, 4000]
    starts = rng.integers(0, 1000, len(lengths))
    got = crc32c_batch(buf, starts, lengths)
    expected = [tw.crc32c_bitwise(buf[s:s + n]) for s, n in zip(starts, lengths)]
    assert got.tolist() == expected


def test_masked_crc_follows_tfrecord_definition():
    assert mask(crc32c(b"123456789")) == tw.masked(0xE3069283)
    assert mask(np.array([0xE3069283], np.uint32))[0] == tw.masked(0xE3069283)


# -- framing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("block", [5, 64, 1 << 20])
def test_records_round_trip_whatever_the_read_block_size(block):
    rng = np.random.default_rng(1)
    payloads = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 300, 2000, 17)]
    blob = b"".join(tw.frame(p) for p in payloads)
    offsets = [o for o, _ in read_records(io.BytesIO(blob), block=block)]
    assert records(blob, block=block) == payloads
    assert offsets == [0, 16, 33, 349, 2365]


def test_write_record_produces_what_the_spec_helper_produces():
    f = io.BytesIO()
    write_record(f, b"hello")
    assert f.getvalue() == tw.frame(b"hello")


def test_empty_file_has_no_records():
    assert records(b"") == []


def corrupt(blob, at, value=None):
    b = bytearray(blob)
    b[at] = (b[at] ^ 0xFF) if value is None else value
    return bytes(b)


def three_records():
    return [tw.frame(p) for p in (b"a" * 40, b"b" * 50, b"c" * 60)]


def test_corrupt_length_is_reported_with_file_and_offset_and_earlier_records_kept():
    r = three_records()
    blob = r[0] + corrupt(r[1], 0, 51) + r[2]            # length byte says 51, CRC says 50
    kept = []
    with pytest.raises(TFRecordError, match=r"^f\.tfrecord: byte 56: length CRC mismatch"):
        for _, p in read_records(io.BytesIO(blob), "f.tfrecord"):
            kept.append(p)
    assert kept == [b"a" * 40]


def test_huge_corrupt_length_fails_at_once_without_reading_on():
    blob = corrupt(three_records()[0], 7, 0x7F)          # length ~ 2**62
    with pytest.raises(TFRecordError, match="byte 0: length CRC mismatch"):
        records(blob)


class ReadOnly:
    """A stream that can only be read (like a tar member in streaming mode): size unknown."""

    def __init__(self, blob):
        self.f = io.BytesIO(blob)

    def read(self, n):
        assert n <= 1 << 30, f"asked for {n} bytes"
        return self.f.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


@pytest.mark.parametrize("source", ["bytes", "file", "stream", "size given"])
def test_huge_corrupt_length_without_crc_checks_is_one_error_not_a_huge_read(tmp_path, source):
    r = three_records()
    blob = r[0] + corrupt(r[1], 7, 0x3F) + r[2]         # length ~ 2**62 at byte 56
    (tmp_path / "f.tfrecord").write_bytes(blob)
    f = {"bytes": lambda: io.BytesIO(blob), "file": lambda: open(tmp_path / "f.tfrecord", "rb"),
         "stream": lambda: ReadOnly(blob), "size given": lambda: ReadOnly(blob)}[source]()
    size = len(blob) if source == "size given" else None
    kept = []
    with f, pytest.raises(TFRecordError, match=r"^f\.tfrecord: byte 56: file ends inside a "
                                                r"record: its header announces 4\d+ bytes"):
        for _, p in read_records(f, "f.tfrecord", check_crc=False, block=64, size=size):
            kept.append(p)
    assert kept == [b"a" * 40]


def test_corrupt_data_crc_is_reported():
    r = three_records()
    blob = r[0] + r[1] + corrupt(r[2], 12 + 5)           # a payload byte of the third record
    with pytest.raises(TFRecordError, match=r"byte 122: data CRC mismatch in a record of 60"):
        records(blob)


def test_corrupt_stored_data_crc_is_reported():
    r = three_records()
    blob = r[0] + corrupt(r[1], len(r[1]) - 1) + r[2]
    with pytest.raises(TFRecordError, match="byte 56: data CRC mismatch"):
        records(blob)


def five_records():
    """Five framed records of different lengths and their byte offsets."""
    framed = [tw.frame(bytes([65 + k]) * (30 + 10 * k)) for k in range(5)]
    return framed, np.concatenate([[0], np.cumsum([len(r) for r in framed])[:-1]]).tolist()


def read_skipping(blob, **kw):
    """(offset, payload) of every record kept, and the DamagedRecord reports, in file order."""
    damaged = []
    kept = list(read_records(io.BytesIO(blob), "f.tfrecord", on_damaged=damaged.append, **kw))
    return kept, damaged


@pytest.mark.parametrize("block", [7, 64, 1 << 20])          # the damage inside / across batches
@pytest.mark.parametrize("which", [0, 2, 4])                  # first, middle, last record
def test_a_damaged_payload_loses_only_its_record_and_is_reported_with_file_and_offset(which,
                                                                                       block):
    framed, offsets = five_records()
    framed[which] = tw.flip_byte(framed[which], 12 + 3)          # a payload byte
    kept, damaged = read_skipping(b"".join(framed), block=block)
    assert [o for o, _ in kept] == [o for k, o in enumerate(offsets) if k != which]
    assert [p for _, p in kept] == [r[12:-4] for k, r in enumerate(framed) if k != which]
    assert len(damaged) == 1
    e = damaged[0]
    assert isinstance(e, TFRecordError) and (e.name, e.offset) == ("f.tfrecord", offsets[which])
    assert str(e) == (f"f.tfrecord: byte {offsets[which]}: data CRC mismatch in a record of "
                      f"{30 + 10 * which} bytes: corrupt record data")
    assert e.payload == framed[which][12:-4]                    # the data as stored, damage and all


def test_a_damaged_stored_data_crc_and_several_damaged_records_are_each_skipped_alone():
    framed, offsets = five_records()
    framed[1] = tw.flip_byte(framed[1], len(framed[1]) - 1)     # the data's stored CRC
    framed[3] = tw.flip_byte(framed[3], 20)
    kept, damaged = read_skipping(b"".join(framed), block=16)
    assert [o for o, _ in kept] == [offsets[0], offsets[2], offsets[4]]
    assert [e.offset for e in damaged] == [offsets[1], offsets[3]]
    assert damaged[0].payload == b"B" * 40                      # intact: only its CRC was hit


def test_a_damaged_record_without_on_damaged_still_stops_the_reading():
    framed, offsets = five_records()
    framed[2] = tw.flip_byte(framed[2], 12)
    kept = []
    with pytest.raises(TFRecordError, match=f"byte {offsets[2]}: data CRC mismatch"):
        for o, _ in read_records(io.BytesIO(b"".join(framed)), "f.tfrecord"):
            kept.append(o)
    assert kept == offsets[:2]


@pytest.mark.parametrize("block", [7, 1 << 20])
@pytest.mark.parametrize("broken, problem", [
    ("length CRC", "length CRC mismatch (the length field reads"),
    ("length past the end", "file ends inside a record: its header announces 60 bytes"),
])
def test_a_broken_length_header_still_ends_the_file_after_skipped_damaged_records(broken, problem,
                                                                                  block):
    framed, offsets = five_records()
    framed[1] = tw.flip_byte(framed[1], 12 + 5)
    if broken == "length CRC":
        framed[3] = tw.flip_byte(framed[3], 0)
    else:                                                       # intact header, file cut after it
        framed, offsets = framed[:4], offsets[:4]
        framed[3] = framed[3][:12 + 20]
    kept, damaged = [], []
    with pytest.raises(TFRecordError, match="^" + re.escape(f"f.tfrecord: byte {offsets[3]}: "
                                                            + problem)):
        for o, _ in read_records(io.BytesIO(b"".join(framed)), "f.tfrecord", block=block,
                                 on_damaged=damaged.append):
            kept.append(o)
    assert kept == [offsets[0], offsets[2]]
    assert [e.offset for e in damaged] == [offsets[1]]


def test_crc_checks_can_be_turned_off():
    r = three_records()
    blob = r[0] + corrupt(r[1], len(r[1]) - 1) + r[2]
    assert len(records(blob, check_crc=False)) == 3


@pytest.mark.parametrize("cut, problem", [
    (3, "file ends inside a record header"),
    (14, "file ends inside a record: its header announces 60 bytes"),
    (12 + 60 + 2, "file ends inside a record"),
])
def test_truncated_file_is_reported(cut, problem):
    r = three_records()
    blob = r[0] + r[1] + r[2][:cut]
    kept = []
    with pytest.raises(TFRecordError, match=f"byte 122: {problem}"):
        for _, p in read_records(io.BytesIO(blob), "f.tfrecord", block=7):
            kept.append(p)
    assert kept == [b"a" * 40, b"b" * 50]


# -- protobuf ----------------------------------------------------------------------------------

def frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 128), dtype=np.uint8)


@pytest.mark.parametrize("packed", [True, False])
def test_sequence_example_decodes_packed_and_unpacked_scalars(packed):
    f = frames(3)
    ex = tw.audioset_example("-abc_def-gh", 30.0, 40.0, [5, 300, -2], f, packed=packed)
    context, lists = pb.decode_sequence_example(ex)
    assert context["video_id"] == pb.Feature("bytes", [b"-abc_def-gh"])
    assert context["start_time_seconds"] == pb.Feature("float", [30.0])
    assert context["end_time_seconds"].values == [40.0]
    assert context["labels"] == pb.Feature("int64", [5, 300, -2])
    assert [feat.values[0] for feat in lists["audio_embedding"]] == [row.tobytes() for row in f]


def test_unknown_fields_of_every_wire_type_are_skipped():
    junk = (tw.tag(9, 0) + tw.varint(2 ** 40) + tw.tag(10, 1) + b"\x01" * 8
            + tw.ld(11, b"ignored") + tw.tag(12, 5) + b"\x02" * 4)
    ex = tw.audioset_example("abcdefghijk", 1.5, 2.5, [1], frames(1), junk=junk)
    context, _ = pb.decode_sequence_example(ex + junk)
    assert context["start_time_seconds"].values == [1.5]


def test_feature_lists_can_be_skipped_or_selected():
    ex = tw.audioset_example("abcdefghijk", 0.0, 10.0, [1], frames(2))
    assert pb.decode_sequence_example(ex, lists=())[1] == {}
    assert list(pb.decode_sequence_example(ex, lists=("audio_embedding",))[1]) == \
        ["audio_embedding"]
    assert pb.decode_sequence_example(ex, lists=("other",))[1] == {}


@pytest.mark.parametrize("blob, problem", [
    (tw.tag(1, 2) + tw.varint(50) + b"xx", "says 50 bytes, only 2 remain"),
    (b"\x80" * 11, "varint longer than 10 bytes"),
    (b"\x0a\x80", "varint runs past the end"),
    (tw.tag(3, 3), "group"),
    (tw.tag(3, 6), "invalid wire type 6"),
    (tw.tag(3, 5) + b"\x00", "fixed32 field 3 is cut short"),
])
def test_malformed_messages_raise_protobuf_error(blob, problem):
    with pytest.raises(pb.ProtobufError, match=problem):
        pb.decode_sequence_example(blob)


def test_varint_decodes_multi_byte_values():
    assert pb.read_varint(tw.varint(300), 0) == (300, 2)
    assert pb.read_varint(tw.varint(2 ** 63), 0)[0] == 2 ** 63


def test_records_and_decoder_together_read_an_audioset_file(tmp_path):
    path = tmp_path / "ab.tfrecord"
    f = frames(10)
    tw.write_tfrecord(path, [tw.audioset_example("abcdefghijk", 30.0, 40.0, [0], f),
                             tw.audioset_example("bcdefghijkl", 0.0, 9.0, [1, 2], f[:9])])
    with open(path, "rb") as fh:
        decoded = [pb.decode_sequence_example(p) for _, p in read_records(fh, str(path))]
    assert [c["video_id"].values[0] for c, _ in decoded] == [b"abcdefghijk", b"bcdefghijkl"]
    assert len(decoded[1][1]["audio_embedding"]) == 9
