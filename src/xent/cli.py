"""The ``xent`` command: a thin Typer layer over :mod:`xent.scoring`.

Options are turned into a :class:`~xent.scoring.ScoreOptions`, the library
scores, a renderer writes the result, and :func:`main` maps every failure to
one line on standard error and the exit code of the contract. Heavy modules
are imported inside the commands so ``xent --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from xent import __version__
from xent.errors import ExitCode, UsageError, XentError

if TYPE_CHECKING:
    from xent.report import Report

app = typer.Typer(
    name="xent",
    help=("Cross-entropy (log loss) of classifier predictions.\n\nExample: xent score preds.csv"),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    """What ``--format`` accepts."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class _State:
    debug = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Cross-entropy (log loss) of classifier predictions.

    Example: xent score preds.csv
    """


_READ = "Reading"
_LAYOUT = "Layout"
_NUMBERS = "Numbers"
_OUTPUT = "Output"
_GATES = "Quality gates"
_COMPARE = "Comparison"
_SCALE = "Distributed scoring"


_Labels = Annotated[
    str | None,
    typer.Option(
        "--labels",
        help="Separate labels file, aligned by row or joined on --id-col. Example: --labels y.csv",
        rich_help_panel=_READ,
    ),
]

_InputFormat = Annotated[
    str | None,
    typer.Option(
        "--input-format",
        help="Format of the prediction file(s) when the suffix does not say: csv, tsv, parquet, "
        "npy, npz, arrow, jsonl. Example: --input-format tsv",
        rich_help_panel=_READ,
    ),
]

_LabelsFormat = Annotated[
    str | None,
    typer.Option(
        "--labels-format",
        help="Format of the --labels file when its suffix does not say. "
        "Example: --labels-format parquet",
        rich_help_panel=_READ,
    ),
]

_LabelCol = Annotated[
    str | None,
    typer.Option(
        "--label-col",
        help="The label column (default: the column named label, labels, y, y_true, "
        "target, class or truth). Example: --label-col species",
        rich_help_panel=_LAYOUT,
    ),
]

_LabelCols = Annotated[
    str | None,
    typer.Option(
        "--label-cols",
        help="Per-class target columns: soft labels (rows sum to 1), or 0/1 labels with "
        "--task multilabel. Comma list or glob. Example: --label-cols 'y_*'",
        rich_help_panel=_LAYOUT,
    ),
]

_PredCols = Annotated[
    str | None,
    typer.Option(
        "--pred-cols",
        help="Prediction columns, comma list or glob (default: every numeric column "
        "that is not the label, id or weight). Example: --pred-cols 'p_*'",
        rich_help_panel=_LAYOUT,
    ),
]

_IdCol = Annotated[
    str | None,
    typer.Option(
        "--id-col",
        help="Id column, shown beside samples and used to join --labels "
        "(default: a column named id). Example: --id-col image",
        rich_help_panel=_LAYOUT,
    ),
]

_WeightCol = Annotated[
    str | None,
    typer.Option(
        "--weight-col",
        help="Column of non-negative sample weights. Example: --weight-col w",
        rich_help_panel=_LAYOUT,
    ),
]

_PosLabel = Annotated[
    str | None,
    typer.Option(
        "--pos-label",
        help="Binary: the label value of the positive class, when labels are not "
        "0/1 or true/false. Example: --pos-label spam",
        rich_help_panel=_LAYOUT,
    ),
]

_Classes = Annotated[
    str | None,
    typer.Option(
        "--classes",
        help="Class names of the prediction columns, in order (NumPy inputs, or to "
        "rename columns). Example: --classes cat,dog,bird",
        rich_help_panel=_LAYOUT,
    ),
]

_Task = Annotated[
    str,
    typer.Option(
        "--task",
        help="auto, binary, multiclass or multilabel. auto: one prediction column is "
        "binary, several are multiclass. Example: --task multilabel",
        rich_help_panel=_LAYOUT,
    ),
]

_Inputs = Annotated[
    str,
    typer.Option(
        "--inputs",
        help="What the prediction values are: auto, probs, logits or log-probs. auto: "
        "probabilities when every value is in [0, 1], logits otherwise. "
        "Example: --inputs logits",
        rich_help_panel=_NUMBERS,
    ),
]

_Eps = Annotated[
    str,
    typer.Option(
        "--eps",
        help="Clip probabilities to [eps, 1-eps]; auto is float64 machine epsilon "
        "(as scikit-learn), 0 turns clipping off. Example: --eps 1e-15",
        rich_help_panel=_NUMBERS,
    ),
]

_Renormalize = Annotated[
    bool,
    typer.Option(
        "--renormalize",
        help="Divide each multiclass probability row by its sum instead of failing "
        "when it does not sum to 1. Example: --renormalize",
        rich_help_panel=_NUMBERS,
    ),
]

_LabelSmoothing = Annotated[
    float,
    typer.Option(
        "--label-smoothing",
        help="Smooth targets: (1-A)*onehot + A/K (binary: (1-A)*y + A/2). "
        "Example: --label-smoothing 0.1",
        rich_help_panel=_NUMBERS,
    ),
]

_ClassWeights = Annotated[
    str | None,
    typer.Option(
        "--class-weights",
        help="Weight per true class, multiplied into the sample weight. "
        "Example: --class-weights cat=2,dog=0.5",
        rich_help_panel=_NUMBERS,
    ),
]

_IgnoreLabel = Annotated[
    str | None,
    typer.Option(
        "--ignore-label",
        help="Leave out rows with this label (counted and reported). Example: --ignore-label -100",
        rich_help_panel=_NUMBERS,
    ),
]

_Unit = Annotated[
    str,
    typer.Option(
        "--unit",
        help="nats (natural log) or bits (log base 2). Example: --unit bits",
        rich_help_panel=_NUMBERS,
    ),
]

_OutputFormat = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        help="table, json, csv (one row per sample) or markdown. Example: --format json",
        rich_help_panel=_OUTPUT,
    ),
]

_Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the result to this file (atomically: a failed run leaves none).",
        rich_help_panel=_OUTPUT,
    ),
]

_Debug = Annotated[
    bool,
    typer.Option("--debug", help="Show the Python traceback of internal errors. Example: --debug"),
]

_Top = Annotated[
    int,
    typer.Option(
        "--top",
        help="How many samples to list: the highest losses (score) or the largest increases "
        "(compare). Example: --top 20",
        rich_help_panel=_OUTPUT,
    ),
]


@app.command(no_args_is_help=True)
def score(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS",
            help="Predictions file (CSV, TSV, .gz, Parquet file or directory, NPY, NPZ, "
            "Arrow/Feather, JSON Lines), or - for standard input.",
            show_default=False,
        ),
    ],
    labels: _Labels = None,
    input_format: _InputFormat = None,
    labels_format: _LabelsFormat = None,
    label_col: _LabelCol = None,
    label_cols: _LabelCols = None,
    pred_cols: _PredCols = None,
    id_col: _IdCol = None,
    weight_col: _WeightCol = None,
    pos_label: _PosLabel = None,
    classes: _Classes = None,
    task: _Task = "auto",
    inputs: _Inputs = "auto",
    eps: _Eps = "auto",
    renormalize: _Renormalize = False,
    label_smoothing: _LabelSmoothing = 0.0,
    class_weights: _ClassWeights = None,
    ignore_label: _IgnoreLabel = None,
    unit: _Unit = "nats",
    output_format: _OutputFormat = OutputFormat.table,
    output: _Output = None,
    per_sample: Annotated[
        bool,
        typer.Option(
            "--per-sample",
            help="Include every sample's loss in the JSON output (per_sample). "
            "Example: --format json --per-sample",
            rich_help_panel=_OUTPUT,
        ),
    ] = False,
    top: _Top = 5,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Context metrics computed in the same pass: accuracy, brier, ece, entropy, "
            "split (loss from confidently wrong samples) or all. Example: --metrics accuracy,ece",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    bins: Annotated[
        int,
        typer.Option(
            "--bins",
            help="Confidence bins of the calibration error (ece). Example: --bins 10",
            rich_help_panel=_OUTPUT,
        ),
    ] = 15,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Also draw the loss histogram, per-class losses and a reliability diagram "
            "to this .png or .svg file (needs: pip install 'xent[plot]'). Example: --plot loss.png",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    engine_name: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local, or dask to score the shards of a Parquet dataset (a directory or a "
            "glob such as 'preds/*.parquet') in parallel; needs pip install 'xent[dask]'. "
            "Example: --engine dask --workers 4",
            rich_help_panel=_SCALE,
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="With --engine dask: the address of a running Dask scheduler (default: start "
            "a local cluster). Example: --scheduler tcp://10.0.0.5:8786",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="With --engine dask and no --scheduler: worker processes of the local cluster "
            "(default: one per core). Example: --workers 8",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    per_sample_output: Annotated[
        str | None,
        typer.Option(
            "--per-sample-output",
            help="With --engine dask: write per-sample losses (index, id, label, loss) to this "
            "directory, one Parquet file per shard. Example: --per-sample-output losses/",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    max_loss: Annotated[
        float | None,
        typer.Option(
            "--max-loss",
            help="Gate: fail (exit 1) when the loss is above this. Example: --max-loss 0.5",
            rich_help_panel=_GATES,
        ),
    ] = None,
    max_class_loss: Annotated[
        float | None,
        typer.Option(
            "--max-class-loss",
            help="Gate: fail when any class's loss is above this. Example: --max-class-loss 1.2",
            rich_help_panel=_GATES,
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Gate: a saved `xent score --format json` report; fail when the loss rises "
            "over it by more than --max-increase (default 0). Example: --baseline base.json",
            rich_help_panel=_GATES,
        ),
    ] = None,
    max_increase: Annotated[
        str | None,
        typer.Option(
            "--max-increase",
            help="Allowed rise over --baseline: absolute (in --unit) or a percentage. "
            "Example: --max-increase 0.01 or --max-increase 5%",
            rich_help_panel=_GATES,
        ),
    ] = None,
    debug: _Debug = False,
) -> None:
    """Score predictions against labels: aggregate, per-class and per-sample cross-entropy.

    Example: xent score preds.csv --format json
    """
    _State.debug = debug
    options = _score_options(locals())
    if plot is not None:
        from dataclasses import replace

        from xent.render.plot import check_plot_path

        check_plot_path(plot)
        options = replace(options, calibration=True)  # bins for the reliability diagram
    from xent.gates import GateOptions, load_baseline

    gate_options = GateOptions(max_loss, max_class_loss, baseline, max_increase)
    gate_options.check()
    baseline_report = load_baseline(baseline) if baseline else None
    engine = _Engine(engine_name, scheduler, workers, per_sample_output, output_format)
    report = _score_to_output(
        predictions, options, output_format, output, gate_options, baseline_report, engine
    )
    if plot is not None:
        from xent.render.plot import write_plot

        write_plot(report, plot)
    if not report.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command(no_args_is_help=True)
def explain(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS",
            help="Predictions file (any input format), or - for standard input.",
        ),
    ],
    row: Annotated[
        int | None,
        typer.Option(
            "--row",
            help="0-based index of the sample, as in `xent score --format csv`. Example: --row 41",
        ),
    ] = None,
    sample_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="The sample's id (see --id-col) instead of --row. Example: --id img_07"
        ),
    ] = None,
    labels: _Labels = None,
    input_format: _InputFormat = None,
    labels_format: _LabelsFormat = None,
    label_col: _LabelCol = None,
    label_cols: _LabelCols = None,
    pred_cols: _PredCols = None,
    id_col: _IdCol = None,
    weight_col: _WeightCol = None,
    pos_label: _PosLabel = None,
    classes: _Classes = None,
    task: _Task = "auto",
    inputs: _Inputs = "auto",
    eps: _Eps = "auto",
    renormalize: _Renormalize = False,
    label_smoothing: _LabelSmoothing = 0.0,
    class_weights: _ClassWeights = None,
    ignore_label: _IgnoreLabel = None,
    unit: _Unit = "nats",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the explanation as JSON (xent.explain/1). Example: --row 3 --json",
        ),
    ] = False,
    debug: _Debug = False,
) -> None:
    """Write out one sample's loss step by step: the formula, its numbers, the result.

    Example: xent explain preds.csv --row 3
    """
    _State.debug = debug
    from xent.explain import explain as explain_row

    values = dict(locals(), top=0)
    result = explain_row(predictions, row=row, id=sample_id, options=_score_options(values))
    for warning in result.warnings:
        _say(f"warning: {warning}")
    if as_json:
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(result.text())


_SCORE_OPTION_NAMES = (
    "labels",
    "input_format",
    "labels_format",
    "label_col",
    "label_cols",
    "pred_cols",
    "id_col",
    "weight_col",
    "pos_label",
    "task",
    "inputs",
    "eps",
    "renormalize",
    "label_smoothing",
    "ignore_label",
    "unit",
    "top",
)


def _score_options(values: dict[str, Any]) -> Any:
    """A checked :class:`~xent.scoring.ScoreOptions` from a command's parameters."""
    from xent.metrics import DEFAULT_BINS, parse_metrics
    from xent.scoring import ScoreOptions

    return ScoreOptions(
        **{name: values[name] for name in _SCORE_OPTION_NAMES},
        classes=_split(values["classes"]) or None,
        class_weights=_parse_class_weights(values["class_weights"]),
        per_sample=bool(values.get("per_sample", False)),
        metrics=parse_metrics(values.get("metrics")),
        bins=values.get("bins", DEFAULT_BINS),
    ).checked()


@app.command(no_args_is_help=True)
def compare(
    base: Annotated[
        str,
        typer.Argument(metavar="BASE", help="Predictions of the base model (any input format)."),
    ],
    candidate: Annotated[
        str,
        typer.Argument(
            metavar="CANDIDATE", help="Predictions of the candidate model, for the same samples."
        ),
    ],
    labels: _Labels = None,
    input_format: _InputFormat = None,
    labels_format: _LabelsFormat = None,
    label_col: _LabelCol = None,
    label_cols: _LabelCols = None,
    pred_cols: _PredCols = None,
    id_col: _IdCol = None,
    weight_col: _WeightCol = None,
    pos_label: _PosLabel = None,
    classes: _Classes = None,
    task: _Task = "auto",
    inputs: _Inputs = "auto",
    eps: _Eps = "auto",
    renormalize: _Renormalize = False,
    label_smoothing: _LabelSmoothing = 0.0,
    class_weights: _ClassWeights = None,
    ignore_label: _IgnoreLabel = None,
    unit: _Unit = "nats",
    output_format: _OutputFormat = OutputFormat.table,
    output: _Output = None,
    top: _Top = 5,
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            help="Bootstrap resamples for the confidence interval (0: none). "
            "Example: --bootstrap 5000",
            rich_help_panel=_COMPARE,
        ),
    ] = 1000,
    confidence: Annotated[
        float,
        typer.Option(
            "--confidence",
            help="Confidence level of the interval. Example: --confidence 0.9",
            rich_help_panel=_COMPARE,
        ),
    ] = 0.95,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Random seed of the bootstrap, for reproducible intervals. Example: --seed 7",
            rich_help_panel=_COMPARE,
        ),
    ] = None,
    max_increase: Annotated[
        str | None,
        typer.Option(
            "--max-increase",
            help="Gate: fail (exit 1) when the candidate's loss exceeds the base's by more "
            "than this, absolute (in --unit) or a percentage. Example: --max-increase 1%",
            rich_help_panel=_GATES,
        ),
    ] = None,
    significant: Annotated[
        bool,
        typer.Option(
            "--significant",
            help="With --max-increase: fail only when the whole confidence interval lies "
            "above the allowance. Example: --max-increase 1% --significant",
            rich_help_panel=_GATES,
        ),
    ] = False,
    debug: _Debug = False,
) -> None:
    """Compare two prediction sets on the same labels, sample by sample.

    Example: xent compare base.csv candidate.csv --max-increase 1% --significant
    """
    _State.debug = debug
    from xent.compare import compare as compare_files
    from xent.io import use_lean_memory_pool
    from xent.output import AtomicOutput

    use_lean_memory_pool()
    options = _score_options(locals())
    with AtomicOutput(output) as out:
        result = compare_files(
            base,
            candidate,
            options=options,
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
            top=top,
            max_increase=max_increase,
            significant=significant,
        )
        from xent.render import compare as render

        for warning in dict.fromkeys(result.base.warnings + result.candidate.warnings):
            _say(f"warning: {warning}")
        for gate in result.gates:
            if not gate.passed:
                _say(render.failure_line(gate, result.unit))
        if output_format is OutputFormat.json:
            out.stream.write(render.render_json(result))
        elif output_format is OutputFormat.csv:
            render.write_csv(result, out.stream)
        elif output_format is OutputFormat.markdown:
            out.stream.write(render.render_markdown(result))
        elif output is None and sys.stdout.isatty():
            from xent.render.table import make_console

            out.commit()
            render.render_table(result, make_console(sys.stdout))
        else:
            from xent.render.table import make_console

            render.render_table(result, make_console(out.stream, width=100))
        if not out.committed:
            out.commit()
    if not result.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


def _score_to_output(
    predictions: str,
    options: Any,
    output_format: OutputFormat,
    output: str | None,
    gate_options: Any,
    baseline: dict[str, Any] | None,
    engine: _Engine,
) -> Report:
    """Score, evaluate the gates, and write the rendered result all-or-nothing."""
    from xent.gates import evaluate_gates, failure_line
    from xent.io import use_lean_memory_pool
    from xent.output import AtomicOutput
    from xent.scoring import score as score_file

    use_lean_memory_pool()
    with AtomicOutput(output) as out, _Progress() as progress:
        sink = None
        if output_format is OutputFormat.csv:
            from xent.render.csv import CsvSampleWriter

            sink = _LazyCsvSink(out.stream)
        if engine.name == "dask":
            from xent.distributed import score_dask

            report = score_dask(
                predictions,
                options=options,
                scheduler=engine.scheduler,
                workers=engine.workers,
                per_sample_output=engine.per_sample_output,
            )
        else:
            report = score_file(predictions, options=options, sample_sink=sink, progress=progress)
        for warning in report.warnings:
            _say(f"warning: {warning}")
        report.gates, notes = evaluate_gates(report, gate_options, baseline)
        for note in notes:
            _say(f"gate {note.gate} not evaluated: {note.reason}")
        for gate in report.gates:
            if not gate.passed:
                _say(failure_line(gate, report.unit))
        if sink is not None and sink.writer is None:
            from xent.render.csv import CsvSampleWriter

            CsvSampleWriter(out.stream, with_id=report.id_column is not None).start()
        elif output_format is OutputFormat.json:
            from xent.render import render_json

            out.stream.write(render_json(report))
        elif output_format is OutputFormat.markdown:
            from xent.render import render_markdown

            out.stream.write(render_markdown(report))
        elif output_format is OutputFormat.table:
            from xent.render.table import make_console, render_table

            to_terminal = output is None and sys.stdout.isatty()
            if to_terminal:
                out.commit()
                render_table(report, make_console(sys.stdout))
                return report
            render_table(report, make_console(out.stream, width=100))
        out.commit()
    return report


class _Engine:
    """Where scoring runs: ``local`` (this process) or ``dask``, with its settings."""

    def __init__(
        self,
        name: str,
        scheduler: str | None,
        workers: int | None,
        per_sample_output: str | None,
        output_format: OutputFormat,
    ) -> None:
        if name not in ("local", "dask"):
            raise UsageError(f"--engine must be local or dask, not {name!r}")
        if name == "local" and any(v is not None for v in (scheduler, workers, per_sample_output)):
            raise UsageError("--scheduler, --workers and --per-sample-output need --engine dask")
        if name == "dask" and output_format is OutputFormat.csv:
            raise UsageError(
                "--engine dask never gathers per-sample rows; use --per-sample-output DIR "
                "instead of --format csv"
            )
        self.name = name
        self.scheduler = scheduler
        self.workers = workers
        self.per_sample_output = per_sample_output


class _LazyCsvSink:
    """Creates the CSV writer on the first chunk, once the id column is known."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.writer: Any = None

    def start(self) -> None:
        if self.writer is not None:
            self.writer.start()

    def write(self, index: Any, ids: Any, labels: Any, loss: Any, weight: Any) -> None:
        if self.writer is None:
            from xent.render.csv import CsvSampleWriter

            self.writer = CsvSampleWriter(self.stream, with_id=ids is not None)
            self.writer.start()
        self.writer.write(index, ids, labels, loss)


class _Progress:
    """A progress line on standard error, only on a terminal and only after a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, rows: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("scoring: {task.completed:,} rows"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("score", total=None)
        self.bar.update(self.task, completed=rows)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _parse_class_weights(text: str | None) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in _split(text):
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise UsageError(
                f"--class-weights: {item!r} is not NAME=WEIGHT; "
                "example: --class-weights cat=2,dog=0.5"
            ) from None
    return weights


def _say(message: str) -> None:
    sys.stderr.write(f"xent: {message}\n")
    sys.stderr.flush()


def _fail(message: str, code: int) -> NoReturn:
    _say(f"error: {_printable(message)}")
    sys.exit(code)


def _printable(message: str) -> str:
    """One line, with control characters from the input shown as escapes, never sent raw."""
    line = " ".join(message.split("\n"))
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in line
    )


def main(argv: list[str] | None = None) -> None:
    """Run the ``xent`` command; every failure becomes one stderr line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    _State.debug = "--debug" in args
    try:
        code = app(args=args, prog_name="xent", standalone_mode=False)
    except XentError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `xent` or `xent score` alone: show the help, as a usage error.
            sys.stderr.write(exc.format_message().rstrip("\n") + "\n")
            sys.exit(ExitCode.USAGE)
        # Typer's usage errors: unknown option, bad value, missing argument.
        context = getattr(exc, "ctx", None)
        hint = f" (see '{context.command_path} --help')" if context is not None else ""
        _fail(f"{exc.format_message()}{hint}", ExitCode.USAGE)
    except (KeyboardInterrupt, typer.Abort):
        _say("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(code if isinstance(code, int) else 0)
    except Exception as exc:
        if _State.debug:
            import traceback

            traceback.print_exc()
        _fail(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug in xent {__version__}: "
            "please report it to the xent issue tracker with the command you ran "
            "(rerun with --debug for the traceback)",
            ExitCode.INTERNAL,
        )
    sys.exit(code if isinstance(code, int) else 0)
