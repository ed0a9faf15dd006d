"""An .npy file that grows along its first axis.

Converters stream clips whose number they do not know in advance. NumPy's .npy header holds the
shape, so we reserve a fixed-size header, append raw rows behind it, and rewrite the header with
the final row count on close. The result is an ordinary .npy file that `np.load(...,
mmap_mode="r")` maps without copying, however large it is.
"""

import numpy as np

HEADER_BYTES = 128      # magic (6) + version (2) + length (2) + dict padded with spaces + "\n"
MAGIC = b"\x93NUMPY\x01\x00"


def npy_header(dtype, shape):
    """The 128-byte version-1.0 .npy header for a C-ordered array of `dtype` and `shape`."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (
        np.lib.format.dtype_to_descr(np.dtype(dtype)), tuple(shape))
    room = HEADER_BYTES - len(MAGIC) - 2
    if len(text) + 1 > room:
        raise ValueError(f"shape {shape} does not fit in a {HEADER_BYTES}-byte .npy header")
    text = text.ljust(room - 1) + "\n"
    return MAGIC + np.uint16(room).tobytes() + text.encode("latin1")


class NpyAppender:
    """Rows of shape `row_shape` and `dtype`, appended to `path`; `close()` fixes the header."""

    def __init__(self, path, row_shape, dtype):
        self.path = path
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.file = open(path, "wb")
        self.file.write(npy_header(self.dtype, (0,) + self.row_shape))

    def append(self, rows):
        """rows: (n, *row_shape), cast to the file's dtype."""
        rows = np.asarray(rows)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: rows of shape {rows.shape[1:]} given, "
                             f"expected {self.row_shape}")
        self.file.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += rows.shape[0]

    def close(self):
        self.file.seek(0)
        self.file.write(npy_header(self.dtype, (self.rows,) + self.row_shape))
        self.file.close()
