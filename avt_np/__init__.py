"""avt_np: the audiovisual transformer of Boes & Van hamme (ACM MM 2019), by hand in NumPy."""

__version__ = "0.1.0"
