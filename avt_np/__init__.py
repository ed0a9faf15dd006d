"""avt_np: the audiovisual transformer of Boes & Van hamme (ACM MM 2019), by hand in NumPy.

Its imports run one way (tests/test_imports.py checks them against this map): a module imports
only from its own layer or a lower one, and there is no import circle.

    8  tag  book
    7  visualize  sweep  exercises
    6  train  bench
    5  evaluate
    4  predict  run_dir  sync  sync_probes  collapse
    3  optim  metrics  events  detection  data  weights  features  gradcheck  diagnostics
       training_step
    2  model
    1  nn
    0  cli  io  progress  plot  dask_client  blas  download
"""

__version__ = "0.1.0"
