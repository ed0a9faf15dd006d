"""Just enough of the protobuf wire format to read `tf.train.SequenceExample`, in plain Python.

No `protobuf` package and no generated code: AudioSet's embedding files hold one message type,
and its schema fits in a docstring (tensorflow/core/example/{example,feature}.proto):

    SequenceExample { Features context = 1;  FeatureLists feature_lists = 2; }
    Features        { map<string, Feature> feature = 1; }
    FeatureLists    { map<string, FeatureList> feature_list = 1; }
    FeatureList     { repeated Feature feature = 1; }
    Feature         { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                                   Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

A map entry is encoded as a message with key = field 1 and value = field 2.

The wire format (protobuf.dev/programming-guides/encoding): a message is a sequence of fields,
each a varint tag `(field_number << 3) | wire_type` followed by its value:

    wire type 0  varint      7 bits per byte, little-endian groups, high bit = "more follows"
    wire type 1  fixed64     8 bytes little-endian
    wire type 2  len-delim   varint length, then that many bytes (strings, bytes, messages,
                             packed repeated scalars)
    wire type 5  fixed32     4 bytes little-endian (float)
    wire types 3, 4          groups (deprecated; never used by these messages): an error here

Parsers must accept a repeated scalar both packed (one wire-type-2 field holding all values) and
unpacked (one field per value), must skip fields they do not know, and let the last occurrence of
a singular field win (for maps: the last entry with a key wins).
"""

import struct
from dataclasses import dataclass, field

import numpy as np

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


class ProtobufError(ValueError):
    """Malformed wire data; the message says what and at which byte of the message."""


def read_varint(buf, pos, end=None):
    """Decode one varint from buf[pos:end] -> (value, position after it). At most 10 bytes."""
    end = len(buf) if end is None else end
    value = shift = 0
    for i in range(pos, min(pos + 10, end)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if pos + 10 <= end:
        raise ProtobufError(f"byte {pos}: varint longer than 10 bytes")
    raise ProtobufError(f"byte {pos}: varint runs past the end of the message")


def iter_fields(buf, start=0, end=None):
    """Yield (field_number, wire_type, value) for every field in buf[start:end].

    value is an int for varint / fixed64 / fixed32 fields (raw unsigned bits) and a
    (begin, end) byte range into buf for length-delimited ones, so nothing is copied.
    """
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        tag_pos = pos
        tag, pos = read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"byte {tag_pos}: field number 0 is invalid")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
        elif wire == LEN:
            length, pos = read_varint(buf, pos, end)
            if pos + length > end:
                raise ProtobufError(f"byte {tag_pos}: field {number} says {length} bytes, "
                                    f"only {end - pos} remain")
            value, pos = (pos, pos + length), pos + length
        elif wire == FIXED32:
            if pos + 4 > end:
                raise ProtobufError(f"byte {tag_pos}: fixed32 field {number} is cut short")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == FIXED64:
            if pos + 8 > end:
                raise ProtobufError(f"byte {tag_pos}: fixed64 field {number} is cut short")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire in (START_GROUP, END_GROUP):
            raise ProtobufError(f"byte {tag_pos}: field {number} is a group (wire type {wire}), "
                                "which tf.train messages never use")
        else:
            raise ProtobufError(f"byte {tag_pos}: field {number} has invalid wire type {wire}")
        yield number, wire, value


# -- tf.train messages -------------------------------------------------------------------------

@dataclass
class Feature:
    """One tf.train.Feature: kind is "bytes", "float", "int64", or None when no list was set."""
    kind: str = None
    values: list = field(default_factory=list)


def _int64(u):
    """Two's-complement reading of a 64-bit varint (negative int64 values use all 10 bytes)."""
    u &= (1 << 64) - 1
    return u - (1 << 64) if u >> 63 else u


def decode_feature(buf, start=0, end=None):
    """tf.train.Feature bytes -> Feature. Packed and unpacked repeated scalars both accepted."""
    result = Feature()
    for number, wire, value in iter_fields(buf, start, end):
        if wire != LEN or number not in (1, 2, 3):
            continue                                   # unknown field: skipped
        kind = {1: "bytes", 2: "float", 3: "int64"}[number]
        values = []                                    # oneof: the last list set wins
        for n, w, v in iter_fields(buf, *value):
            if n != 1:
                continue
            if kind == "bytes" and w == LEN:
                values.append(bytes(buf[v[0]:v[1]]))
            elif kind == "float" and w == LEN:         # packed floats
                if (v[1] - v[0]) % 4:
                    raise ProtobufError(f"byte {v[0]}: packed float list of {v[1] - v[0]} bytes "
                                        "is not a multiple of 4")
                values.extend(np.frombuffer(buf[v[0]:v[1]], "<f4").tolist())
            elif kind == "float" and w == FIXED32:     # one unpacked float
                values.append(struct.unpack("<f", v.to_bytes(4, "little"))[0])
            elif kind == "int64" and w == LEN:         # packed varints
                pos = v[0]
                while pos < v[1]:
                    u, pos = read_varint(buf, pos, v[1])
                    values.append(_int64(u))
            elif kind == "int64" and w == VARINT:      # one unpacked int64
                values.append(_int64(v))
            else:
                raise ProtobufError(f"byte {v[0] if isinstance(v, tuple) else start}: "
                                    f"{kind} list value has wire type {w}")
        result = Feature(kind, values)
    return result


def _map_entries(buf, start, end):
    """Yield (key, (begin, end) of the value) for the entries of a map field's entry message."""
    key, value = "", (0, 0)
    for n, w, v in iter_fields(buf, start, end):
        if n == 1 and w == LEN:
            try:
                key = bytes(buf[v[0]:v[1]]).decode("utf-8")
            except UnicodeDecodeError:
                raise ProtobufError(f"byte {v[0]}: map key is not UTF-8") from None
        elif n == 2 and w == LEN:
            value = v
    return key, value


def decode_sequence_example(buf, lists=None):
    """tf.train.SequenceExample bytes -> (context, feature_lists).

    context:       {name: Feature}
    feature_lists: {name: [Feature, ...]}, only for the names in `lists` (None = all names;
                   an empty tuple skips the feature lists entirely, e.g. to read a clip's id
                   before deciding whether its embeddings are worth decoding).
    """
    context, feature_lists = {}, {}
    for number, wire, value in iter_fields(buf):
        if wire != LEN:
            continue
        if number == 1:                                # Features context
            for n, w, v in iter_fields(buf, *value):
                if n == 1 and w == LEN:
                    key, span = _map_entries(buf, *v)
                    context[key] = decode_feature(buf, *span)
        elif number == 2 and (lists is None or len(lists)):   # FeatureLists feature_lists
            for n, w, v in iter_fields(buf, *value):
                if n != 1 or w != LEN:
                    continue
                key, span = _map_entries(buf, *v)
                if lists is not None and key not in lists:
                    continue
                feature_lists[key] = [decode_feature(buf, *s)
                                      for fn, fw, s in iter_fields(buf, *span)
                                      if fn == 1 and fw == LEN]
    return context, feature_lists
