"""Cross-modal attention pictures (paper Figs. 4-7) and the synchronization report.

    clip_view.py    a finished run loaded, and what one picture shows about one clip
    picture.py      the picture, drawn in named steps
    sync_report.py  the synchronization score of a run (avt_np/sync.py), stored or computed
    command.py      python -m avt_np.visualize

From Python (lessons):

    from avt_np import visualize
    run = visualize.load(RUN_DIR)
    view = visualize.clip_view(run, "test", 3)
    image, layout = visualize.render(view, block=-1, query_frame=None)
    image.save("fig.png")
"""

from avt_np.visualize.clip_view import ClipView, Run, clip_view, default_query_frame, load
from avt_np.visualize.command import main, picture_name
from avt_np.visualize.picture import render, save_png
from avt_np.visualize.sync_report import format_sync, sync_for_run, sync_for_run_dir

__all__ = ["ClipView", "Run", "clip_view", "default_query_frame", "load", "main", "picture_name",
           "render", "save_png", "format_sync", "sync_for_run", "sync_for_run_dir"]
