"""Pictures of models as SVG (text kept as text): precision and recall over the list, the features a
model leans on, and a metric over the splits for the model card."""

import io

import numpy as np


def precision_recall_svg(curves: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> bytes:
    """Precision (solid) and recall (dashed) of the top k rows for every k (labeled rows, best score
    first), one colour per test matrix: `curves` holds (legend label, scores, labels)."""
    fig = _figure()(figsize=(6, 3.5), dpi=80)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
    for colour, (label, score, labels) in enumerate(curves):
        known = ~np.isnan(labels)
        ranked = labels[known][np.argsort(-score[known], kind="stable")]
        if not len(ranked):
            continue
        hits, k = np.cumsum(ranked), np.arange(1, len(ranked) + 1)
        shown = np.unique(np.linspace(0, len(ranked) - 1, 400).astype(int))  # enough points for a curve
        share = k[shown] / len(ranked) * 100
        ax.plot(share, (hits / k)[shown], color=f"C{colour}", label=f"precision, {label}")
        ax.plot(share, (hits / max(hits[-1], 1))[shown], color=f"C{colour}", linestyle="--",
                label=f"recall, {label}")
    ax.set_xlabel("top k, % of the list")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=9, loc="left")
    if ax.lines:
        ax.legend(frameon=False, fontsize=7)
    return svg(fig)


def importances_svg(values: dict[str, float], title: str, top: int = 20) -> bytes:
    """The `top` features the model leans on most, largest at the top."""
    shown = list(values.items())[:top][::-1]
    height = 1 + 0.22 * len(shown)
    fig = _figure()(figsize=(6, height), dpi=80)
    ax = fig.subplots()
    # Fixed margins (room for long feature names) instead of tight_layout, which draws twice.
    fig.subplots_adjust(left=0.45, right=0.97, top=1 - 0.35 / height, bottom=0.4 / height)
    ax.barh(range(len(shown)), [v for _, v in shown], color="#1f77b4")
    ax.set_yticks(range(len(shown)), [n for n, _ in shown], fontsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    return svg(fig)


def svg(fig) -> bytes:
    """SVG with its text kept as text: half the time of a PNG (no glyphs to rasterise), smaller, and
    MLflow's artifact view shows it like a picture. A fixed salt keeps the file the same each time."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "prodline"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue().encode()


def history_svg(series: dict[str, list[tuple[str, float]]], title: str, metric: str) -> bytes:
    """A metric over splits, one line per series of (split, value), splits in the order given."""
    fig = _figure()(figsize=(6, 3), dpi=80)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.2)
    for colour, (label, points) in enumerate(series.items()):
        if points:
            ax.plot(
                [p[0] for p in points], [p[1] for p in points], marker="o", color=f"C{colour}", label=label
            )
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9, loc="left")
    if ax.lines:
        ax.legend(frameon=False, fontsize=7)
    return svg(fig)


def _figure():
    # matplotlib takes seconds to import, and every run worker imports this module: only a step
    # that draws pays for it. A bare Figure, not pyplot: no global state, safe in a threaded server.
    from matplotlib.figure import Figure

    return Figure
