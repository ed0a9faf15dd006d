"""Table 1 of the paper, reproduced: every configuration x every seed, locally or on Dask.

    grid.py              the 60 cells (rows x columns) and --only selection
    paper_table1.json    the paper's Table 1 values, as data
    runner.py            running the runs: local worker processes or Dask tasks
    table.py             the tables written from finished runs (Markdown, CSV, JSON)
    command.py           python -m avt_np.sweep
"""

from avt_np.sweep.command import main

__all__ = ["main"]
