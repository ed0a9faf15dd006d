"""A client of a Dask distributed scheduler, for the tools that can spread work over a cluster
(`python -m avt_np.sweep --dask`, `python -m avt_np.features --dask`). Dask is an optional
dependency (requirements-scaleout.txt)."""

from avt_np.cli import UsageError, first_line


def connect(address):
    """A distributed.Client of the scheduler at `address`; UsageError (one line, exit 2) when
    Dask is not installed or nothing answers there."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs dask.distributed, an optional dependency: "
                         "pip install -r requirements-scaleout.txt") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise UsageError(f"--dask {address}: cannot connect to a Dask scheduler "
                         f"({first_line(e)})") from None
