"""python -m avt_np.visualize: see avt_np/visualize/command.py."""

from avt_np.visualize.command import main

raise SystemExit(main())
