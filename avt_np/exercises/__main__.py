"""python -m avt_np.exercises: see avt_np/exercises/command.py."""

from avt_np.exercises.command import main

raise SystemExit(main())
