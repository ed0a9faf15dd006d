"""TFRecord files in plain Python/NumPy: record framing and a vectorised CRC32C.

A TFRecord file (tensorflow/core/lib/io/record_writer.cc) is, repeated until end of file:

    uint64  length                       little-endian
    uint32  masked_crc32c(length bytes)  little-endian
    byte    data[length]                 here: one serialised tf.train.SequenceExample
    uint32  masked_crc32c(data)          little-endian

    masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xA282EAD8  (mod 2**32),  c = crc32c(x)

CRC32C is the Castagnoli CRC (iSCSI, RFC 3720): reflected polynomial 0x82F63B78, initial value
and final xor 0xFFFFFFFF; its check value is crc32c(b"123456789") == 0xE3069283. AudioSet's
released embeddings are plain (uncompressed) TFRecord files.

Errors (TFRecordError, a ValueError) name the file and the byte offset of the record's header:
a length or data CRC mismatch, a file that ends inside a header, a payload or a footer. Two kinds
differ in what survives them:

- a broken length header (its CRC fails, or the length runs past the end of the file) loses the
  framing: where the next record starts is unknown, so nothing later in the file can be trusted
  and `read_records` stops there;
- a damaged record whose length header is intact (its data, or the data's stored CRC, fails the
  data CRC) loses only itself: the next record starts 16 + length bytes after its header. With
  `on_damaged`, `read_records` reports it (a DamagedRecord, holding the unverified payload) and
  goes on; without, it stops there like at a framing error.

Speed. A byte-at-a-time table CRC in Python runs at ~10 MB/s, too slow for the 2.4 GB release.
CRC32C without its init/final xor is linear over GF(2) in the message bits, so the CRC of a
message is the XOR of one term per byte, the term depending only on the byte's value and its
distance from the END of the message. We cut each message into chunks of C bytes aligned to its
end (zero bytes at the front change nothing), look up every byte's within-chunk term in a
(C, 256) table in one NumPy gather, XOR each chunk's terms together, move each chunk's partial
CRC across the chunks after it with "append 2**k zero bytes" operators (4 byte tables each,
applied per set bit of the chunk's distance), and XOR each message's chunks. Many records are
checked in one batch, so the per-record Python cost is a few slices. See `crc32c_batch`.
"""

import io
import os
import struct

import numpy as np

POLY = 0x82F63B78          # CRC32C, reflected
MASK_DELTA = 0xA282EAD8
CHUNK = 128                # bytes per chunk in the vectorised CRC (128-256 measured fastest)
BLOCK = 4 << 20            # bytes read from a file at a time


class TFRecordError(ValueError):
    """A corrupt or truncated TFRecord file: '<file>: byte <offset>: <problem>'."""

    def __init__(self, name, offset, problem):
        super().__init__(f"{name}: byte {offset}: {problem}")
        self.name, self.offset, self.problem = name, offset, problem


class DamagedRecord(TFRecordError):
    """One record whose data fails its CRC while its length header is intact.

    payload: the record's data as stored (unverified: it may hold the damage, or be intact when
    only the stored CRC was hit); the records after it are still framed correctly.
    """

    def __init__(self, name, offset, problem, payload):
        super().__init__(name, offset, problem)
        self.payload = payload


# -- CRC32C ------------------------------------------------------------------------------------

def _byte_table():
    """T[b] = CRC register after feeding byte b into a zero register (no init, no final xor)."""
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = (c >> 1) ^ (np.uint32(POLY) * (c & 1))
    return c


_T = _byte_table()


def _append_zeros(s, tables):
    """Apply the linear map "feed 2**k zero bytes" to registers s, given its 4 byte tables."""
    return (tables[0][s & 0xFF] ^ tables[1][(s >> 8) & 0xFF]
            ^ tables[2][(s >> 16) & 0xFF] ^ tables[3][s >> 24])


def _build_tables():
    # Position table: row j holds the term of a byte at position j of a C-byte chunk, i.e.
    # T[b] followed by C-1-j zero bytes. Feeding one zero byte maps s -> (s >> 8) ^ T[s & 255].
    rows = [_T]
    for _ in range(CHUNK - 1):
        rows.append((rows[-1] >> 8) ^ _T[rows[-1] & 0xFF])
    pos = np.stack(rows[::-1]).ravel()                      # (C * 256,) uint32
    # zeros[k] = byte tables of "feed C * 2**k zero bytes" (chunk moves), k = 0..39
    one_byte = np.stack([(np.arange(256, dtype=np.uint32) << (8 * j)) for j in range(4)])
    for _ in range(CHUNK):                                  # one chunk of zeros
        one_byte = (one_byte >> 8) ^ _T[one_byte & 0xFF]
    zeros = [one_byte]
    for _ in range(39):                                     # doubling: apply the map twice
        zeros.append(_append_zeros(zeros[-1], zeros[-1]))
    return pos, zeros


_POS, _ZEROS = _build_tables()
_POS_BASE = (np.arange(CHUNK, dtype=np.uint16) * 256)        # row offsets into _POS
_INIT_TERM = {}                                              # n -> contribution of init 0xFFFFFFFF


def _init_term(n):
    """Register 0xFFFFFFFF fed n zero bytes (the part of the CRC that depends only on n)."""
    term = _INIT_TERM.get(n)
    if term is None:
        s = 0xFFFFFFFF
        for _ in range(n % CHUNK):
            s = (s >> 8) ^ int(_T[s & 0xFF])
        q, k = n // CHUNK, 0
        while q:
            if q & 1:
                s = int(_append_zeros(np.uint32(s), _ZEROS[k]))
            q, k = q >> 1, k + 1
        term = _INIT_TERM[n] = s
        if len(_INIT_TERM) > 100_000:
            _INIT_TERM.clear()
    return term


def crc32c_batch(buf, starts, lengths):
    """CRC32C of many byte ranges of one buffer at once.

    buf: bytes-like; starts, lengths: (N,) ints  ->  (N,) uint32, crc32c(buf[s:s+n]) each.
    """
    data = np.frombuffer(buf, np.uint8)
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(lengths, np.int64)
    n_chunks = -(-lengths // CHUNK)                         # ceil
    first_chunk = np.concatenate([[0], np.cumsum(n_chunks)])
    padded = np.zeros((int(first_chunk[-1]), CHUNK), np.uint8)
    flat = padded.ravel()
    ends = first_chunk[1:] * CHUNK                          # each message ends on a chunk edge
    for s, n, e in zip(starts.tolist(), lengths.tolist(), ends.tolist()):
        flat[e - n:e] = data[s:s + n]
    idx = padded.astype(np.uint16)
    idx += _POS_BASE
    partial = np.bitwise_xor.reduce(_POS[idx], axis=1)      # (total chunks,) chunk CRC terms
    # chunk i of a message with K chunks is followed by K-1-i chunks
    after = np.repeat(first_chunk[1:], n_chunks) - 1 - np.arange(len(partial))
    k = 0
    while after.any():
        move = (after & 1).astype(bool)
        partial[move] = _append_zeros(partial[move], _ZEROS[k])
        after >>= 1
        k += 1
    raw = np.zeros(len(lengths), np.uint32)
    nonempty = n_chunks > 0
    if nonempty.any():
        raw[nonempty] = np.bitwise_xor.reduceat(partial, first_chunk[:-1][nonempty])
    init = np.array([_init_term(n) for n in lengths.tolist()], np.uint32)
    return raw ^ init ^ np.uint32(0xFFFFFFFF)


def crc32c(data):
    """CRC32C (Castagnoli) of a bytes-like object, as an int."""
    return int(crc32c_batch(data, [0], [len(data)])[0])


def mask(crc):
    """TFRecord's masked CRC: rotate right by 15 bits, add a constant (works on arrays too)."""
    if isinstance(crc, np.ndarray):
        crc = crc.astype(np.uint32)
        return ((crc >> 15) | (crc << 17)) + np.uint32(MASK_DELTA)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data):
    return mask(crc32c(data))


# -- reading -----------------------------------------------------------------------------------

def _gather(data, offsets, width):
    """(N, width) uint8: data[o:o + width] for each offset o."""
    return data[np.asarray(offsets, np.int64)[:, None] + np.arange(width)]


def _crc32c_rows(rows):
    """CRC32C of each row of an (N, m) uint8 array, m <= CHUNK (e.g. the 8-byte length fields)."""
    m = rows.shape[1]
    idx = rows.astype(np.uint16)
    idx += _POS_BASE[CHUNK - m:]                             # right-aligned in one chunk
    raw = np.bitwise_xor.reduce(_POS[idx], axis=1)
    return raw ^ np.uint32(_init_term(m) ^ 0xFFFFFFFF)


def _stored_crcs(data, offsets):
    return np.ascontiguousarray(_gather(data, offsets, 4)).view("<u4").ravel()


def bytes_left(f):
    """Bytes from f's position to its end, for a real file or a BytesIO; None otherwise."""
    try:
        return os.fstat(f.fileno()).st_size - f.tell()
    except (AttributeError, OSError, ValueError):
        pass
    if isinstance(f, io.BytesIO):
        return f.getbuffer().nbytes - f.tell()
    return None


def read_records(f, name="<stream>", check_crc=True, block=BLOCK, size=None, on_damaged=None):
    """Yield (offset, payload bytes) for each record of an open binary file, in order.

    f: any object with .read(n) (a file, a tarfile member, a BytesIO); it is read forward only,
    about `block` bytes at a time, so memory stays bounded by one block plus the largest record.
    size: the bytes left in f (a tar member's size); found from f itself when None and f is a
    real file or a BytesIO. A length field announcing more than the file holds is an error at
    once, CRC checks on or off, so a corrupt length never asks for 2**62 bytes.
    Records are CRC-checked in batches; every record yielded has passed its checks.
    on_damaged: called with a DamagedRecord for each record whose data CRC fails under an intact
    length header, in file order between the records yielded; that record is skipped and
    reading goes on. None: such a record ends the reading like a framing error.
    At a broken length header or a truncated file (or, without on_damaged, a damaged record),
    the records before it are yielded, then TFRecordError is raised.
    """
    size = bytes_left(f) if size is None else size
    buf, base, need, eof = b"", 0, block, False     # base: file offset of buf[0]
    while True:
        if not eof:
            # with the size unknown, read a long record in pieces: its length may be corrupt
            more = f.read(max(block, need if size is not None else min(need, 16 * block)))
            eof = not more
            buf = buf + more if buf else more
        data = np.frombuffer(buf, np.uint8)
        heads, lengths, error = [], [], None
        pos, end = 0, len(buf)
        while pos + 12 <= end:                             # frame the complete records
            (length,) = struct.unpack_from("<Q", buf, pos)
            if pos + 16 + length > end:
                break
            heads.append(pos)
            lengths.append(length)
            pos += 16 + length
        if pos + 12 <= end:                                # a record that is not all here yet
            (length,) = struct.unpack_from("<Q", buf, pos)
            follow = end - pos - 12 if eof or size is None else size - (base + pos) - 12
            if check_crc and mask(_crc32c_rows(_gather(data, [pos], 8)))[0] \
                    != _stored_crcs(data, [pos + 8])[0]:
                error = (pos, f"length CRC mismatch (the length field reads {length}): "
                              "corrupt record header")
            elif eof or (size is not None and length + 4 > follow):
                error = (pos, f"file ends inside a record: its header announces {length} bytes "
                              f"of data + 4 of CRC, {follow} bytes follow")
            need = 16 + length - (end - pos)
        elif eof and pos < end:
            error = (pos, f"file ends inside a record header ({end - pos} of 12 bytes)")
        good, damaged = len(heads), set()
        if check_crc and heads:
            h = np.array(heads, np.int64)
            n = np.array(lengths, np.int64)
            bad_len = np.flatnonzero(mask(_crc32c_rows(_gather(data, h, 8)))
                                     != _stored_crcs(data, h + 8))
            bad_data = np.flatnonzero(mask(crc32c_batch(buf, h + 12, n))
                                      != _stored_crcs(data, h + 12 + n))
            if len(bad_len):        # framing lost: this record and all after it are unknown
                good = int(bad_len[0])
                error = (heads[good], f"length CRC mismatch (the length field reads "
                                      f"{lengths[good]}): corrupt record header")
            damaged = set(bad_data[bad_data < good].tolist())
            if damaged and on_damaged is None:                      # strict: stop at the first
                good = min(damaged)
                error = (heads[good], _data_crc_problem(lengths[good]))
        for k, (p, n) in enumerate(zip(heads[:good], lengths[:good])):
            if k in damaged:
                on_damaged(DamagedRecord(name, base + p, _data_crc_problem(n),
                                         buf[p + 12:p + 12 + n]))
            else:
                yield base + p, buf[p + 12:p + 12 + n]
        if error is not None:
            raise TFRecordError(name, base + error[0], error[1])
        if eof:
            return
        if pos + 12 > end:
            need = block
        buf, base = buf[pos:], base + pos


def _data_crc_problem(length):
    return f"data CRC mismatch in a record of {length} bytes: corrupt record data"


def write_record(f, payload):
    """Append one record to an open binary file (the inverse of read_records)."""
    header = struct.pack("<Q", len(payload))
    f.write(header + struct.pack("<I", masked_crc32c(header)))
    f.write(payload)
    f.write(struct.pack("<I", masked_crc32c(payload)))
