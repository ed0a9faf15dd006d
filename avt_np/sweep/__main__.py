"""python -m avt_np.sweep: see avt_np/sweep/command.py."""

from avt_np.sweep.command import main

raise SystemExit(main())
