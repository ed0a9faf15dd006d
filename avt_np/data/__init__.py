"""Data: the on-disk format, the embedded default data set, the balanced sampler, converters.

    from avt_np import data
    dataset = data.open()                             # the embedded default set (built on first use)
    dataset = data.open("path/to/dataset")            # a directory in the avt_np format
    batch = dataset["train"].batch([0, 5, 9])         # {"audio": (3, 10, 128), "video": ...}
"""

from avt_np.data.format import Dataset, DataError, Split, open_dataset
from avt_np.data.writer import DatasetWriter
from avt_np.data.opening import EMBEDDED, open, resolved, same_data

__all__ = ["Dataset", "DatasetWriter", "DataError", "Split", "open_dataset", "EMBEDDED", "open",
           "resolved", "same_data"]
