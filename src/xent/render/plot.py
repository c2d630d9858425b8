"""``xent score --plot FILE``: one figure of a report, as PNG or SVG.

Three panels, side by side:

1. **Per-sample loss**: how many samples fall in each bin of the report's
   histogram. The bins are the fixed, roughly logarithmic edges of the table
   output (0, 0.01, 0.05, ... 20, ∞ in the report's unit), drawn as equal-width
   bars so that a handful of 30-nat mistakes is as visible as the bulk near 0;
   dashed lines mark the mean loss and the uniform-prediction loss ln K.
2. **Per-class loss**: one horizontal bar per class (the highest-loss
   :data:`MAX_CLASSES` when there are more), labelled with the loss and the
   class's share of the total, against the uniform loss ln K and the aggregate.
3. **Reliability diagram**: per confidence bin, the accuracy (bar, spanning the
   bin) against the mean confidence (dot), the gap between them shaded, and the
   diagonal of perfect calibration; empty bins are skipped, and the expected
   calibration error is in the panel title.

matplotlib is optional (``pip install 'xent[plot]'``) and imported only here,
inside the functions, so ``import xent`` and ``xent --help`` never load it. The
figure is drawn with the object-oriented API on the Agg canvas, never through
``pyplot``: no global backend or state of a caller's session is touched.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from typing import TYPE_CHECKING, Any

from xent.errors import EnvironmentFault, UsageError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from xent.report import Report

#: Suffixes ``--plot`` accepts, and the matplotlib format each one writes.
FORMATS = {".png": "png", ".svg": "svg"}
#: At most this many classes get a bar in the per-class panel (the highest-loss ones).
MAX_CLASSES = 20
#: Panel titles (tests look for them in SVG output).
TITLE_HISTOGRAM = "Per-sample loss"
TITLE_CLASSES = "Per-class loss"
TITLE_RELIABILITY = "Reliability diagram"

_INSTALL_HINT = "--plot needs matplotlib: pip install 'xent[plot]'"
_BLUE = "#4C72B0"
_ORANGE = "#DD8452"
_RED = "#C44E52"
_GREY = "#8C8C8C"
_DARK = "#333333"
_DPI = 120


def check_plot_path(path: str) -> None:
    """Fail early, before any scoring, when ``--plot PATH`` cannot be written.

    Raises :class:`~xent.errors.UsageError` for a suffix other than ``.png`` or
    ``.svg`` and when matplotlib is not installed, and
    :class:`~xent.errors.EnvironmentFault` when the directory does not exist (an
    output that cannot be written, as for ``--output``).
    """
    _format_of(path)
    _import_matplotlib()
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise EnvironmentFault(f"--plot: {path}: the directory does not exist; create it first")
    if os.path.isdir(path):
        raise UsageError(f"--plot: {path} is a directory; give a file name ending in .png or .svg")


def write_plot(report: Report, path: str) -> None:
    """Draw ``report`` to ``path`` (.png or .svg), atomically.

    The figure is written to a temporary file in the same directory and then
    renamed over ``path``, so readers never see half a picture and a failure
    leaves no file (and an older plot at ``path`` untouched).
    """
    fmt = _format_of(path)
    _import_matplotlib()
    import matplotlib

    style: dict[Any, Any] = {
        "svg.fonttype": "none",  # text stays text: searchable, and titles are in the SVG
        "svg.hashsalt": "xent",  # stable element ids: the same report gives the same SVG
        "font.size": 9.0,
        "axes.titlesize": 11.0,
        "axes.titleweight": "bold",
        "axes.labelsize": 9.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.fontsize": 8.0,
        "legend.frameon": False,
    }
    with matplotlib.rc_context(style):
        figure = _figure(report)
        directory = os.path.dirname(os.path.abspath(path))
        handle, temp = tempfile.mkstemp(prefix=".xent-plot-", suffix=f".{fmt}", dir=directory)
        try:
            with os.fdopen(handle, "wb") as stream:
                metadata: dict[str, Any] = (
                    {"Date": None, "Creator": "xent"} if fmt == "svg" else {"Software": "xent"}
                )
                figure.savefig(stream, format=fmt, dpi=_DPI, metadata=metadata)
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(temp)
            raise


def _format_of(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        shown = f"suffix {suffix!r}" if suffix else "no suffix"
        raise UsageError(f"--plot: {path} has {shown}; use a .png or .svg file name")
    return fmt


def _import_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except ImportError:
        raise UsageError(_INSTALL_HINT) from None


def _figure(report: Report) -> Any:
    """The three-panel figure of ``report`` (a matplotlib ``Figure`` on an Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = min(len(report.per_class), MAX_CLASSES)
    height = min(7.0, max(4.6, 1.9 + 0.25 * shown))
    figure = Figure(figsize=(15.0, height), layout="constrained")
    FigureCanvasAgg(figure)
    histogram, classes, reliability = figure.subplots(
        1, 3, gridspec_kw={"width_ratios": [1.15, 1.0, 0.95]}
    )
    _histogram_panel(histogram, report)
    _class_panel(classes, report)
    _reliability_panel(reliability, report)
    source = report.predictions
    name = "standard input" if source == "-" else (os.path.basename(source) or source)
    loss = _number(report.aggregate.loss)
    figure.suptitle(
        f"{name}: {report.task}, {report.inputs}, N = {report.n_samples:,}, "
        f"K = {len(report.classes)}; loss {loss} {report.unit}",
        fontsize=12.5,
        fontweight="bold",
    )
    return figure


def _histogram_panel(ax: Axes, report: Report) -> None:
    from matplotlib.ticker import MaxNLocator

    edges = [float(e) for e in report.histogram.edges]
    counts = list(report.histogram.counts)
    unit = report.unit
    positions = list(range(len(counts)))
    ax.bar(
        positions,
        counts,
        width=1.0,
        align="edge",
        color=_BLUE,
        edgecolor="white",
        linewidth=1.2,
        zorder=2,
    )
    ax.set_xticks(range(len(edges)), [_edge(e) for e in edges])
    ax.tick_params(axis="x", labelsize=8.0)
    ax.set_xlim(-0.2, len(counts) + 0.2)
    top = max(counts, default=0)
    ax.set_ylim(0, top * 1.18 + 1)
    for i, n in enumerate(counts):
        if n:
            ax.annotate(
                f"{n:,}",
                (i + 0.5, n),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color=_DARK,
                zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.4},
            )
    ax.set_xlabel(f"loss per sample ({unit}), bin edges")
    ax.set_ylabel("samples")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(TITLE_HISTOGRAM)
    ax.grid(axis="y", color="#E5E5E5", zorder=0)
    ax.tick_params(axis="x", length=3)
    for value, label, color, style in (
        (report.aggregate.loss, f"mean loss = {_number(report.aggregate.loss)}", _RED, "--"),
        (report.reference.uniform, _uniform_label(report), _GREY, ":"),
    ):
        x = _bin_position(value, edges)
        if x is not None:
            ax.axvline(x, color=color, linestyle=style, linewidth=1.4, label=label, zorder=3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")


def _bin_position(value: float, edges: list[float]) -> float | None:
    """Where ``value`` falls on the equal-width bin axis (linear inside its bin)."""
    if not math.isfinite(value):
        return None
    for i in range(len(edges) - 1):
        low, high = edges[i], edges[i + 1]
        if low <= value < high:
            if not math.isfinite(high):
                return i + 0.5
            return i + (value - low) / (high - low)
    return None


def _class_panel(ax: Axes, report: Report) -> None:
    rows = list(report.per_class)
    hidden = 0
    if len(rows) > MAX_CLASSES:
        rows = sorted(rows, key=lambda c: _sort_key(c.loss), reverse=True)[:MAX_CLASSES]
        hidden = len(report.per_class) - MAX_CLASSES
    finite = [c.loss for c in rows if math.isfinite(c.loss)]
    refs = [v for v in (report.reference.uniform, report.aggregate.loss) if math.isfinite(v)]
    span = max([*finite, *refs, 1e-9])
    y = list(range(len(rows)))
    widths = [
        c.loss if math.isfinite(c.loss) else (span * 1.12 if c.loss > 0 else 0.0) for c in rows
    ]
    colors = [_BLUE if math.isfinite(c.loss) else _RED for c in rows]
    ax.barh(y, widths, height=0.6, color=colors, zorder=2)
    ax.set_yticks(y, [_short(c.name) for c in rows])
    pad = max(0.0, (4 - len(rows)) * 0.5)  # few classes: thinner bars, not fat blocks
    ax.set_ylim(len(rows) - 0.5 + pad, -0.5 - pad)
    label_size = 8.0 if len(rows) <= 15 else 7.0
    ax.tick_params(axis="y", labelsize=label_size, length=0)
    for i, c in enumerate(rows):
        share = f" ({c.share:.0%})" if math.isfinite(c.share) else ""
        ax.annotate(
            f"{_number(c.loss)}{share}",
            (widths[i], i),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=label_size - 0.5,
            color=_DARK,
        )
    ax.set_xlim(0, span * 1.3)
    unit = report.unit
    if math.isfinite(report.reference.uniform):
        ax.axvline(
            report.reference.uniform,
            color=_GREY,
            linestyle=":",
            linewidth=1.4,
            label=_uniform_label(report),
            zorder=3,
        )
    if math.isfinite(report.aggregate.loss):
        ax.axvline(
            report.aggregate.loss,
            color=_RED,
            linestyle="--",
            linewidth=1.4,
            label=f"aggregate = {_number(report.aggregate.loss)}",
            zorder=3,
        )
    ax.set_xlabel(f"mean loss of the class's samples ({unit}); in brackets: share of total")
    title = TITLE_CLASSES
    if hidden:
        title += f" (highest {MAX_CLASSES} of {len(report.per_class)})"
    ax.set_title(title)
    ax.grid(axis="x", color="#E5E5E5", zorder=0)
    if ax.get_legend_handles_labels()[0]:
        # below the panel: bars may fill every corner of it
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)


def _reliability_panel(ax: Axes, report: Report) -> None:
    calibration = report.calibration
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.04)
    ax.set_aspect("equal", adjustable="box")
    ax.plot([0, 1], [0, 1], color=_GREY, linestyle="--", linewidth=1.1, label="perfect calibration")
    ax.set_xlabel("confidence = largest predicted probability")
    ax.set_ylabel("accuracy")
    if not calibration:
        ax.set_title(TITLE_RELIABILITY)
        ax.text(
            0.5,
            0.5,
            "no calibration bins\n(needs one true class per sample)",
            ha="center",
            va="center",
            color=_GREY,
            transform=ax.transAxes,
        )
        return
    edges = [float(e) for e in calibration["edges"]]
    accuracy = calibration["accuracy"]
    confidence = calibration["confidence"]
    drawn = [
        i for i in range(len(edges) - 1) if accuracy[i] is not None and confidence[i] is not None
    ]
    lefts = [edges[i] for i in drawn]
    widths = [edges[i + 1] - edges[i] for i in drawn]
    acc = [float(accuracy[i]) for i in drawn]
    conf = [float(confidence[i]) for i in drawn]
    ax.bar(
        lefts,
        acc,
        width=widths,
        align="edge",
        color=_BLUE,
        alpha=0.85,
        edgecolor="white",
        linewidth=0.6,
        label="accuracy per bin",
        zorder=2,
    )
    ax.bar(
        lefts,
        [c - a for a, c in zip(acc, conf, strict=True)],
        bottom=acc,
        width=widths,
        align="edge",
        facecolor=(0.77, 0.31, 0.32, 0.22),
        hatch="//",
        edgecolor=_RED,
        linewidth=0.8,
        label="gap to mean confidence",
        zorder=3,
    )
    ax.hlines(
        conf,
        lefts,
        [left + width for left, width in zip(lefts, widths, strict=True)],
        colors=_DARK,
        linewidth=1.6,
        label="mean confidence",
        zorder=4,
    )
    ece = _ece(calibration)
    bins = f"{len(edges) - 1} bins"
    ece_text = f" (ECE {_number(float(ece))}, {bins})" if isinstance(ece, float | int) else ""
    ax.set_title(f"{TITLE_RELIABILITY}{ece_text}")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    ax.grid(color="#EEEEEE", zorder=0)


def _ece(calibration: dict[str, Any]) -> float | None:
    """Expected calibration error from the per-bin figures."""
    total = sum(calibration["weight"])
    if total <= 0:
        return None
    gaps = [
        w * abs(a - c)
        for w, a, c in zip(
            calibration["weight"], calibration["accuracy"], calibration["confidence"], strict=True
        )
        if w > 0 and a is not None and c is not None
    ]
    return float(sum(gaps) / total)


def _uniform_label(report: Report) -> str:
    """The legend entry of the uniform-prediction reference, in the report's unit."""
    value = _number(report.reference.uniform)
    if report.task == "multilabel":
        return f"uniform p = 1/2: {value}"
    log = "log₂" if report.unit == "bits" else "ln"
    return f"uniform {log} K = {value}"


def _sort_key(loss: float) -> float:
    return loss if not math.isnan(loss) else -math.inf


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _edge(value: float) -> str:
    if math.isinf(value):
        return "∞"
    return f"{value:g}"


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
