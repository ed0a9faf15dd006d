"""Test helper: write AudioSet-style TFRecord files from the published formats, independently of
avt_np.data.tfrecord / avt_np.data.protobuf (a bit-by-bit CRC and a hand-written encoder), so the
reader is checked against the specification, not against itself.

Formats: TFRecord framing (tensorflow/core/lib/io/record_writer.cc), CRC32C (RFC 3720),
protobuf encoding (protobuf.dev/programming-guides/encoding), tf.train.SequenceExample
(tensorflow/core/example/{example,feature}.proto), AudioSet's embedding release
(research.google.com/audioset/download.html: context video_id, start_time_seconds,
end_time_seconds, labels; feature list audio_embedding of 128-byte strings).
"""

import struct


def crc32c_bitwise(data):
    """CRC32C one bit at a time, straight from the definition (slow; for tests only)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload):
    """One TFRecord record: length, masked CRC of length, payload, masked CRC of payload."""
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", masked(crc32c_bitwise(length))) + payload
            + struct.pack("<I", masked(crc32c_bitwise(payload))))


# -- protobuf encoding -------------------------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1                      # negative int64: two's complement, 10 bytes
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def tag(number, wire):
    return varint((number << 3) | wire)


def ld(number, payload):
    """A length-delimited field."""
    return tag(number, 2) + varint(len(payload)) + payload


def bytes_feature(values):
    return ld(1, b"".join(ld(1, v) for v in values))


def float_feature(values, packed=True):
    if packed:
        body = ld(1, struct.pack(f"<{len(values)}f", *values))
    else:
        body = b"".join(tag(1, 5) + struct.pack("<f", v) for v in values)
    return ld(2, body)


def int64_feature(values, packed=True):
    if packed:
        body = ld(1, b"".join(varint(v) for v in values))
    else:
        body = b"".join(tag(1, 0) + varint(v) for v in values)
    return ld(3, body)


def map_entry(key, value):
    return ld(1, ld(1, key.encode()) + ld(2, value))


def sequence_example(context, feature_lists, junk=b""):
    """context: {name: encoded Feature}; feature_lists: {name: [encoded Feature, ...]}.

    junk: raw bytes spliced in at the top level (e.g. an unknown field) to test skipping.
    """
    ctx = b"".join(map_entry(k, v) for k, v in context.items())
    lists = b"".join(map_entry(k, b"".join(ld(1, f) for f in fs))
                     for k, fs in feature_lists.items())
    return junk + ld(1, ctx) + ld(2, lists)


def audioset_example(video_id, start, end, labels, frames, packed=True, junk=b"", drop=()):
    """One AudioSet clip. frames: byte strings (128 each in real files) or uint8 array rows.

    drop: names of context fields (or "audio_embedding") to leave out.
    """
    context = {
        "video_id": bytes_feature([video_id.encode()]),
        "start_time_seconds": float_feature([start], packed),
        "end_time_seconds": float_feature([end], packed),
        "labels": int64_feature(labels, packed),
    }
    context = {k: v for k, v in context.items() if k not in drop}
    rows = [bytes(bytearray(f)) for f in frames]
    lists = {} if "audio_embedding" in drop else \
        {"audio_embedding": [bytes_feature([r]) for r in rows]}
    return sequence_example(context, lists, junk)


def flip_byte(blob, at):
    """blob with the byte at `at` inverted: one damaged byte, as a bad disk or download leaves."""
    b = bytearray(blob)
    b[at] ^= 0xFF
    return bytes(b)


def write_tfrecord(path, payloads):
    with open(path, "wb") as f:
        for p in payloads:
            f.write(frame(p))
