"""A picture of the splits: per split, training as-of dates, the label window that must close before
the split, and the test as-of dates with their label windows (PNG bytes)."""

import datetime as dt
import io

from prodline.pipeline.matrices.splits import Split

TRAIN, TEST, LABEL = "#1f77b4", "#d62728", "#bbbbbb"


def timeline_png(splits: list[Split], title: str = "train/test splits") -> bytes:
    # Imported here: matplotlib takes seconds, and every run worker imports this module. A bare
    # Figure, not pyplot: no backend or global figure state, safe inside a threaded server.
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = len(splits)
    fig = Figure(figsize=(10, 1.2 + 0.35 * rows), dpi=100)
    ax = fig.subplots()
    for y, split in enumerate(reversed(splits)):
        train = split.train.as_of_dates
        _span(ax, y, train[-1], split.train.label_timespan.after(train[-1]), LABEL)
        _span(ax, y, train[0], train[-1], TRAIN, height=0.18)
        ax.plot(train, [y] * len(train), "|", color=TRAIN, markersize=9)
        for test in split.tests:
            _span(ax, y - 0.22, test.as_of_dates[0], test.info_end, LABEL, height=0.12)
            ax.plot(test.as_of_dates, [y - 0.22] * len(test.as_of_dates), "|", color=TEST, markersize=9,
                    markeredgewidth=2)
        ax.axvline(split.time, ymin=0, ymax=1, color="#444444", linewidth=0.3)
    ax.set_yticks(range(rows), [s.key for s in reversed(splits)], fontsize=8)
    ax.set_ylim(-0.8, rows - 0.4)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(handles=[Line2D([], [], color=TRAIN, marker="|", linestyle="", label="training as-of dates"),
                       Line2D([], [], color=TEST, marker="|", linestyle="", label="test as-of dates"),
                       Patch(color=LABEL, label="label windows")],
              loc="lower right", fontsize=7, frameon=False, ncol=3, bbox_to_anchor=(1, 1))
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _span(ax, y: float, start: dt.date, end: dt.date, color: str, height: float = 0.3) -> None:
    ax.barh(y, (end - start).days, left=start, height=height, color=color, alpha=0.8, linewidth=0)
