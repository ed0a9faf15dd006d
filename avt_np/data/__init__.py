"""Data: the on-disk format, the embedded default data set, the balanced sampler, converters.

    from avt_np.data import open_dataset, default_dataset
    dataset = open_dataset("path/to/dataset")         # or default_dataset() for the embedded one
    batch = dataset["train"].batch([0, 5, 9])         # {"audio": (3, 10, 128), "video": ...}
"""

from avt_np.data.format import Dataset, DatasetWriter, DataError, Split, open_dataset

__all__ = ["Dataset", "DatasetWriter", "DataError", "Split", "open_dataset"]
