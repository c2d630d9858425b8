"""The ``xent`` command: a thin Typer layer over the library.

Each command turns its parameters into a :class:`~xent.options.ScoreOptions`
(:meth:`~xent.options.ScoreOptions.from_params`), calls the library, and
hands the result to a renderer (:mod:`xent.render`). Options that several
commands share are declared once, in the groups below, and added to each
command's signature by :func:`_with`. :func:`main` is the one place where
every failure becomes one line on standard error and an exit code (the table
is in docs/usage.md). Heavy modules are imported inside the commands so
``xent --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import os
import signal
import sys
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from xent import __version__
from xent.errors import ExitCode, UsageError, XentError

if TYPE_CHECKING:
    from xent.compare import Comparison
    from xent.report import Report

app = typer.Typer(
    name="xent",
    help=("Cross-entropy (log loss) of classifier predictions.\n\nExample: xent score preds.csv"),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Task(StrEnum):
    """What ``--task`` accepts."""

    auto = "auto"
    binary = "binary"
    multiclass = "multiclass"
    multilabel = "multilabel"


class Inputs(StrEnum):
    """What ``--inputs`` accepts."""

    auto = "auto"
    probs = "probs"
    logits = "logits"
    log_probs = "log-probs"
    target_probs = "target-probs"
    target_log_probs = "target-log-probs"


class Unit(StrEnum):
    """What ``--unit`` accepts."""

    nats = "nats"
    bits = "bits"


class Like(StrEnum):
    """What ``--like`` accepts."""

    sklearn = "sklearn"
    torch = "torch"
    keras = "keras"


class Reduction(StrEnum):
    """What ``--reduction`` accepts."""

    weighted_mean = "weighted-mean"
    mean = "mean"
    sum = "sum"


class OutputFormat(StrEnum):
    """What ``--format`` accepts."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Engine(StrEnum):
    """What ``--engine`` accepts."""

    local = "local"
    dask = "dask"


class SchemaName(StrEnum):
    """What ``xent schema`` accepts."""

    score = "score"
    compare = "compare"
    explain = "explain"


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


def _option(*names: str, help: str, panel: str | None = None) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel)


#: A group of shared options: parameter name -> (annotated type, default).
Group = dict[str, tuple[Any, Any]]

READING: Group = {
    "labels": (
        Annotated[
            str | None,
            _option(
                "--labels",
                help="Separate labels file, aligned by row or joined on --id-col. "
                "Example: --labels y.csv",
                panel=_READ,
            ),
        ],
        None,
    ),
    "input_format": (
        Annotated[
            str | None,
            _option(
                "--input-format",
                help="Format of the prediction file(s) when the suffix does not say: csv, tsv, "
                "parquet, npy, npz, arrow, jsonl. Example: --input-format tsv",
                panel=_READ,
            ),
        ],
        None,
    ),
    "labels_format": (
        Annotated[
            str | None,
            _option(
                "--labels-format",
                help="Format of the --labels file when its suffix does not say. "
                "Example: --labels-format parquet",
                panel=_READ,
            ),
        ],
        None,
    ),
    "no_header": (
        Annotated[
            bool,
            _option(
                "--no-header",
                help="The predictions CSV/TSV has no header line: its columns are named 0, 1, "
                "... in order. Example: --no-header --classes a,b,c",
                panel=_READ,
            ),
        ],
        False,
    ),
    "class_axis": (
        Annotated[
            int | None,
            _option(
                "--class-axis",
                help="NumPy predictions of any rank: the class axis, 1 (channels first, as "
                "torch) or -1 (channels last, as keras), when the shapes of predictions and "
                "labels do not tell. Example: --class-axis 1",
                panel=_READ,
            ),
        ],
        None,
    ),
    "labels_no_header": (
        Annotated[
            bool,
            _option(
                "--labels-no-header",
                help="The --labels CSV/TSV has no header line (as np.savetxt writes it). "
                "Example: --labels y.txt --labels-format csv --labels-no-header",
                panel=_READ,
            ),
        ],
        False,
    ),
}

LAYOUT: Group = {
    "label_col": (
        Annotated[
            str | None,
            _option(
                "--label-col",
                help="The label column (default: the column named label, labels, y, y_true, "
                "target, class or truth). Example: --label-col species",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "label_cols": (
        Annotated[
            str | None,
            _option(
                "--label-cols",
                help="Per-class target columns: soft labels (rows sum to 1), or 0/1 labels with "
                "--task multilabel. Comma list or glob. Example: --label-cols 'y_*'",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "pred_cols": (
        Annotated[
            str | None,
            _option(
                "--pred-cols",
                help="Prediction columns, comma list or glob (default: every numeric column "
                "that is not the label, id, weight or a saved index). Example: --pred-cols 'p_*'",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "id_col": (
        Annotated[
            str | None,
            _option(
                "--id-col",
                help="Id column, shown beside samples and used to join --labels "
                "(default: a column named id, else a saved index). Example: --id-col image",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "weight_col": (
        Annotated[
            str | None,
            _option(
                "--weight-col",
                help="Column of non-negative sample weights. Example: --weight-col w",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "bytes_col": (
        Annotated[
            str | None,
            _option(
                "--bytes-col",
                help="Column of the bytes of text each row covers (for list columns: each "
                "row's document): adds bits per byte, overall and per group. "
                "Example: --bytes-col n_bytes",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "pos_label": (
        Annotated[
            str | None,
            _option(
                "--pos-label",
                help="Binary: the label value of the positive class, when labels are not "
                "0/1 or true/false. Example: --pos-label spam",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "classes": (
        Annotated[
            str | None,
            _option(
                "--classes",
                help="Class names of the prediction columns, in order (NumPy inputs, or to "
                "rename columns). Example: --classes cat,dog,bird",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "by": (
        Annotated[
            str | None,
            _option(
                "--by",
                help="Report the loss per group of rows: the column (or comma list of "
                "columns) whose values name each row's group. Example: --by lang",
                panel=_LAYOUT,
            ),
        ],
        None,
    ),
    "task": (
        Annotated[
            Task,
            _option(
                "--task",
                help="auto: one prediction column is binary, several are multiclass. "
                "Example: --task multilabel",
                panel=_LAYOUT,
            ),
        ],
        Task.auto,
    ),
}

NUMBERS: Group = {
    "inputs": (
        Annotated[
            Inputs,
            _option(
                "--inputs",
                help="What the prediction values are. auto: probabilities when every value "
                "is in [0, 1], logits otherwise. target-probs / target-log-probs: one value per "
                "row, that of its true class (e.g. token log-probabilities). "
                "Example: --inputs logits",
                panel=_NUMBERS,
            ),
        ],
        Inputs.auto,
    ),
    "eps": (
        Annotated[
            str,
            _option(
                "--eps",
                help="Clip probabilities to [eps, 1-eps]; auto is float64 machine epsilon "
                "(as scikit-learn), 0 turns clipping off. Example: --eps 1e-15",
                panel=_NUMBERS,
            ),
        ],
        "auto",
    ),
    "renormalize": (
        Annotated[
            bool,
            _option(
                "--renormalize",
                help="Divide each multiclass probability row by its sum instead of failing "
                "when it does not sum to 1. Example: --renormalize",
                panel=_NUMBERS,
            ),
        ],
        False,
    ),
    "label_smoothing": (
        Annotated[
            float,
            _option(
                "--label-smoothing",
                help="Smooth targets: (1-A)*onehot + A/K (binary: (1-A)*y + A/2). "
                "Example: --label-smoothing 0.1",
                panel=_NUMBERS,
            ),
        ],
        0.0,
    ),
    "class_weights": (
        Annotated[
            str | None,
            _option(
                "--class-weights",
                help="Weight per true class, multiplied into the sample weight. "
                "Example: --class-weights cat=2,dog=0.5",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "ignore_label": (
        Annotated[
            str | None,
            _option(
                "--ignore-label",
                help="Leave out rows with this label, or any of these labels (counted and "
                "reported). Example: --ignore-label -100,255",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "like": (
        Annotated[
            Like,
            _option(
                "--like",
                help="Follow the conventions of this framework, so that the loss equals the one "
                "it prints: clipping, reductions, weights (see docs/conventions.md). "
                "Example: --like torch",
                panel=_NUMBERS,
            ),
        ],
        Like.sklearn,
    ),
    "reduction": (
        Annotated[
            Reduction | None,
            _option(
                "--reduction",
                help="weighted-mean: sum(w*loss)/sum(w); mean: sum(w*loss)/N; sum: sum(w*loss) "
                "(default: that of --like). Example: --reduction mean",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "pos_weight": (
        Annotated[
            str | None,
            _option(
                "--pos-weight",
                help="Binary and multilabel: multiply the positive term of the loss, as "
                "PyTorch's pos_weight; one value or one per label. Example: --pos-weight 2.5",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "focal_gamma": (
        Annotated[
            float | None,
            _option(
                "--focal-gamma",
                help="Focal loss: weight each sample's loss by (1 - p_true)^GAMMA. "
                "Example: --focal-gamma 2",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "focal_alpha": (
        Annotated[
            float | None,
            _option(
                "--focal-alpha",
                help="Focal loss: the class-balancing factor alpha (binary: alpha for "
                "positives, 1 - alpha for negatives). Example: --focal-alpha 0.25",
                panel=_NUMBERS,
            ),
        ],
        None,
    ),
    "unit": (
        Annotated[
            Unit,
            _option(
                "--unit",
                help="nats (natural log) or bits (log base 2). Example: --unit bits",
                panel=_NUMBERS,
            ),
        ],
        Unit.nats,
    ),
}

OUTPUT: Group = {
    "output_format": (
        Annotated[
            OutputFormat,
            _option(
                "--format",
                "-f",
                help="table, json, csv (one row per sample) or markdown. Example: --format json",
                panel=_OUTPUT,
            ),
        ],
        OutputFormat.table,
    ),
    "output": (
        Annotated[
            str | None,
            _option(
                "--output",
                "-o",
                help="Write the result to this file (atomically: a failed run leaves none). "
                "Example: --output report.json",
                panel=_OUTPUT,
            ),
        ],
        None,
    ),
    "top": (
        Annotated[
            int,
            _option(
                "--top",
                help="How many samples to list: the highest losses (score) or the largest "
                "increases (compare). Example: --top 20",
                panel=_OUTPUT,
            ),
        ],
        5,
    ),
}

OUTPUT["top_groups"] = (
    Annotated[
        int,
        _option(
            "--top-groups",
            help="Table and Markdown: list this many groups of --by, highest loss (compare: "
            "largest increase) first (0: all; JSON always has all). Example: --top-groups 25",
            panel=_OUTPUT,
        ),
    ],
    10,
)

OUTPUT["summary"] = (
    Annotated[
        str | None,
        _option(
            "--summary",
            help="Also write the result as Markdown to this file (atomically), beside any "
            "--format, for a CI job summary or a pull-request comment. "
            "Example: --summary report.md",
            panel=_OUTPUT,
        ),
    ],
    None,
)

OUTPUT["junit"] = (
    Annotated[
        str | None,
        _option(
            "--junit",
            help="Also write the gates as a JUnit XML test report to this file (atomically), "
            "for the test views of Jenkins, GitLab and other CI systems. "
            "Example: --junit gates.xml",
            panel=_OUTPUT,
        ),
    ],
    None,
)

DEBUG: Group = {
    "debug": (
        Annotated[
            bool,
            _option("--debug", help="Show the Python traceback of internal errors."),
        ],
        False,
    ),
}

F = TypeVar("F", bound=Callable[..., Any])


def _with(*groups: Group) -> Callable[[F], F]:
    """Add the shared options of ``groups`` to a command, after its arguments and
    before its own options; the command receives them in ``**params``."""

    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        arguments = [p for p in own if p.default is inspect.Parameter.empty]
        options = [p for p in own if p.default is not inspect.Parameter.empty]
        shared = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
            for group in groups
            for name, (annotation, default) in group.items()
        ]
        parameters = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in arguments + shared + options
        ]

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            return command(**values)

        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return typing.cast(F, wrapper)

    return decorate


@app.command(no_args_is_help=True)
@_with(READING, LAYOUT, NUMBERS, OUTPUT, DEBUG)
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
    per_sample: Annotated[
        bool,
        _option(
            "--per-sample",
            help="Include every sample's loss in the JSON output (per_sample). "
            "Example: --format json --per-sample",
            panel=_OUTPUT,
        ),
    ] = False,
    top_classes: Annotated[
        int,
        _option(
            "--top-classes",
            help="Table and Markdown: list at most this many classes, those with the largest "
            "share of the loss (0: all; JSON always has all). Example: --top-classes 100",
            panel=_OUTPUT,
        ),
    ] = 30,
    metrics: Annotated[
        str | None,
        _option(
            "--metrics",
            help="Context metrics computed in the same pass: accuracy, brier, ece, entropy, "
            "split (loss from confidently wrong samples) or all. Example: --metrics accuracy,ece",
            panel=_OUTPUT,
        ),
    ] = None,
    bins: Annotated[
        int,
        _option(
            "--bins",
            help="Confidence bins of the calibration error (ece). Example: --bins 10",
            panel=_OUTPUT,
        ),
    ] = 15,
    plot: Annotated[
        str | None,
        _option(
            "--plot",
            help="Also draw the loss histogram, per-class losses and a reliability diagram "
            "to this .png or .svg file (needs: pip install 'xent[plot]'). Example: --plot loss.png",
            panel=_OUTPUT,
        ),
    ] = None,
    engine: Annotated[
        Engine,
        _option(
            "--engine",
            help="local, or dask to score the shards of a Parquet dataset (a directory or a "
            "glob such as 'preds/*.parquet') in parallel; needs pip install 'xent[dask]'. "
            "Example: --engine dask --workers 4",
            panel=_SCALE,
        ),
    ] = Engine.local,
    scheduler: Annotated[
        str | None,
        _option(
            "--scheduler",
            help="With --engine dask: the address of a running Dask scheduler (default: start "
            "a local cluster). Example: --scheduler tcp://10.0.0.5:8786",
            panel=_SCALE,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        _option(
            "--workers",
            help="With --engine dask and no --scheduler: worker processes of the local cluster "
            "(default: one per core). Example: --workers 8",
            panel=_SCALE,
        ),
    ] = None,
    per_sample_output: Annotated[
        str | None,
        _option(
            "--per-sample-output",
            help="With --engine dask: write per-sample losses (index, id, label, loss) to this "
            "directory, one Parquet file per shard. Example: --per-sample-output losses/",
            panel=_SCALE,
        ),
    ] = None,
    max_loss: Annotated[
        float | None,
        _option(
            "--max-loss",
            help="Gate: fail (exit 1) when the loss is above this. Example: --max-loss 0.5",
            panel=_GATES,
        ),
    ] = None,
    max_class_loss: Annotated[
        float | None,
        _option(
            "--max-class-loss",
            help="Gate: fail when any class's loss is above this. Example: --max-class-loss 1.2",
            panel=_GATES,
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        _option(
            "--baseline",
            help="Gate: a saved `xent score --format json` report; fail when the loss rises "
            "over it by more than --max-increase (default 0). Example: --baseline base.json",
            panel=_GATES,
        ),
    ] = None,
    max_increase: Annotated[
        str | None,
        _option(
            "--max-increase",
            help="Allowed rise over --baseline: absolute (in --unit) or a percentage. "
            "Example: --max-increase 0.01 or --max-increase 5%",
            panel=_GATES,
        ),
    ] = None,
    max_group_loss: Annotated[
        float | None,
        _option(
            "--max-group-loss",
            help="Gate (with --by): fail when any group of at least --min-group-size rows has "
            "a loss above this. Example: --by lang --max-group-loss 0.8",
            panel=_GATES,
        ),
    ] = None,
    min_group_size: Annotated[
        int,
        _option(
            "--min-group-size",
            help="Groups with fewer rows are listed as not gated by --max-group-loss. "
            "Example: --min-group-size 30",
            panel=_GATES,
        ),
    ] = 1,
    **params: Any,
) -> None:
    """Score predictions against labels: aggregate, per-class and per-sample cross-entropy.

    Example: xent score preds.csv --format json
    """
    from dataclasses import replace

    from xent.gates import GateOptions, evaluate_gates, failure_line, load_baseline
    from xent.options import ScoreOptions
    from xent.render import View

    options = ScoreOptions.from_params(
        {
            **params,
            "per_sample": per_sample,
            "metrics": metrics,
            "bins": bins,
            "need_groups": max_group_loss is not None,
        }
    )
    if plot is not None:
        from xent.render.plot import check_plot_path

        check_plot_path(plot)
        options = replace(options, calibration=True)  # bins for the reliability diagram
    gates = GateOptions(
        max_loss, max_class_loss, baseline, max_increase, max_group_loss, min_group_size
    )
    gates.check()
    baseline_report = load_baseline(baseline) if baseline else None
    dask = _DaskSettings.of(engine, scheduler, workers, per_sample_output, params["output_format"])
    fmt = str(params["output_format"])

    def run(sink: Any, progress: Callable[[int], None]) -> Report:
        if dask is not None:
            from xent.distributed import score_dask

            return score_dask(
                predictions,
                options=options,
                scheduler=dask.scheduler,
                workers=dask.workers,
                per_sample_output=dask.per_sample_output,
            )
        from xent.pipeline import score as score_file

        return score_file(predictions, options=options, sample_sink=sink, progress=progress)

    def check(report: Report) -> None:
        for warning in report.warnings:
            _say(f"warning: {warning}")
        report.gates, notes = evaluate_gates(report, gates, baseline_report)
        for note in notes:
            _say(note.message())
        for gate in report.gates:
            if not gate.passed:
                _say(failure_line(gate, report.unit))

    view = View(top_classes, params["top_groups"])
    _not_an_input(params["output"], predictions, options.labels, baseline)
    side = _side_files(
        params, (predictions, options.labels, baseline), view, min_group_size=min_group_size
    )
    report = _write_result(run, check, fmt, params["output"], view, options.by, side)
    if plot is not None:
        from xent.render.plot import write_plot

        write_plot(report, plot)
    if not report.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command(no_args_is_help=True)
@_with(READING, LAYOUT, NUMBERS, DEBUG)
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
        _option(
            "--row",
            help="0-based index of the sample, as in `xent score --format csv`. Example: --row 41",
        ),
    ] = None,
    sample_id: Annotated[
        str | None,
        _option(
            "--id", help="The sample's id (see --id-col) instead of --row. Example: --id img_07"
        ),
    ] = None,
    as_json: Annotated[
        bool,
        _option(
            "--json", help="Print the explanation as JSON (xent.explain/1). Example: --row 3 --json"
        ),
    ] = False,
    **params: Any,
) -> None:
    """Write out one sample's loss step by step: the formula, its numbers, the result.

    Example: xent explain preds.csv --row 3
    """
    from xent.explain import explain as explain_row
    from xent.options import ScoreOptions
    from xent.output import AtomicOutput
    from xent.read import use_lean_memory_pool

    use_lean_memory_pool()

    options = ScoreOptions.from_params({**params, "top": 0})
    result = explain_row(predictions, row=row, id=sample_id, options=options)
    for warning in result.warnings:
        _say(f"warning: {warning}")
    with AtomicOutput(None) as out:
        if as_json:
            from xent.render.json import dumps

            out.stream.write(dumps(result.to_dict()))
        else:
            out.stream.write(result.text())
        out.commit()


@app.command(no_args_is_help=True)
@_with(READING, LAYOUT, NUMBERS, OUTPUT, DEBUG)
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
    bootstrap: Annotated[
        int,
        _option(
            "--bootstrap",
            help="Bootstrap resamples for the confidence interval (0: none). "
            "Example: --bootstrap 5000",
            panel=_COMPARE,
        ),
    ] = 1000,
    confidence: Annotated[
        float,
        _option(
            "--confidence",
            help="Confidence level of the interval. Example: --confidence 0.9",
            panel=_COMPARE,
        ),
    ] = 0.95,
    seed: Annotated[
        int | None,
        _option(
            "--seed",
            help="Random seed of the bootstrap, for reproducible intervals. Example: --seed 7",
            panel=_COMPARE,
        ),
    ] = None,
    max_increase: Annotated[
        str | None,
        _option(
            "--max-increase",
            help="Gate: fail (exit 1) when the candidate's loss exceeds the base's by more "
            "than this, absolute (in --unit) or a percentage. Example: --max-increase 1%",
            panel=_GATES,
        ),
    ] = None,
    significant: Annotated[
        bool,
        _option(
            "--significant",
            help="With --max-increase: fail only when the whole confidence interval lies "
            "above the allowance. Example: --max-increase 1% --significant",
            panel=_GATES,
        ),
    ] = False,
    **params: Any,
) -> None:
    """Compare two prediction sets on the same labels, sample by sample.

    Example: xent compare base.csv candidate.csv --max-increase 1% --significant
    """
    from xent.compare import compare as compare_files
    from xent.gates import comparison_failure_line
    from xent.options import ScoreOptions

    options = ScoreOptions.from_params(params)

    def run(sink: Any, progress: Callable[[int], None]) -> Comparison:
        return compare_files(
            base,
            candidate,
            options=options,
            bootstrap=bootstrap,
            confidence=confidence,
            seed=seed,
            top=options.top,
            max_increase=max_increase,
            significant=significant,
        )

    def check(result: Comparison) -> None:
        for warning in dict.fromkeys(result.base.warnings + result.candidate.warnings):
            _say(f"warning: {warning}")
        for gate in result.gates:
            if not gate.passed:
                _say(comparison_failure_line(gate, result.unit))

    from xent.render import View

    view = View(top_groups=params["top_groups"])
    _not_an_input(params["output"], base, candidate, options.labels)
    side = _side_files(params, (base, candidate, options.labels), view, max_increase=max_increase)
    fmt = str(params["output_format"])
    result = _write_result(run, check, fmt, params["output"], view, side=side)
    if not result.passed:
        raise typer.Exit(ExitCode.GATE_FAILED)


@app.command(no_args_is_help=True)
@_with(DEBUG)
def schema(
    name: Annotated[
        SchemaName,
        typer.Argument(
            metavar="NAME",
            help="score (xent.score/1), compare (xent.compare/1) or explain (xent.explain/1).",
            show_default=False,
        ),
    ],
    **params: Any,
) -> None:
    """Print the JSON Schema of a JSON output, to validate reports with.

    Example: xent schema score > xent.score.schema.json
    """
    from xent.output import AtomicOutput
    from xent.schema import schema_text

    with AtomicOutput(None) as out:
        out.stream.write(schema_text(str(name)))
        out.commit()


R = TypeVar("R", "Report", "Comparison")


class _SideFile:
    """A file written beside the result (``--junit``, ``--summary``): rendered after
    the gates and published right after the result, atomically like it."""

    def __init__(self, option: str, path: str, write: Callable[[Any, IO[str]], None]) -> None:
        self.option = option
        self.path = path
        self.write = write


def _side_files(
    params: dict[str, Any], inputs: tuple[str | None, ...], view: Any, **junit_context: Any
) -> list[_SideFile]:
    """The ``--junit`` and ``--summary`` files of a command, checked against the
    run's other files: no two outputs on standard output or on one file, and
    none of them an input."""
    from xent import render

    def junit(result: Any, stream: IO[str]) -> None:
        from xent.render import junit as junit_xml
        from xent.report import Report

        if isinstance(result, Report):
            junit_xml.write_report(result, stream, **junit_context)
        else:
            junit_xml.write_comparison(result, stream, **junit_context)

    def summary(result: Any, stream: IO[str]) -> None:
        render.write(result, "markdown", stream, view=view)

    side = [
        _SideFile(option, params[key], write)
        for option, key, write in (("--junit", "junit", junit), ("--summary", "summary", summary))
        if params.get(key) is not None
    ]
    taken = [("--output", params.get("output") or "-")]
    for file in side:
        for option, path in taken:
            if file.path == "-" and path == "-":
                other = "the result" if option == "--output" else f"{option} -"
                fix = "give --output FILE" if option == "--output" else f"give {option} a file name"
                raise UsageError(
                    f"{file.option} - and {other} would both go to standard output; "
                    f"{fix}, or {file.option} a file name"
                )
            if "-" not in (file.path, path) and _same_file(file.path, path):
                raise UsageError(f"{file.option} {file.path} and {option} {path} are the same file")
        _not_an_input(file.path, *inputs, option=file.option)
        taken.append((file.option, file.path))
    return side


def _same_file(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        with contextlib.suppress(OSError):
            return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _write_result(
    run: Callable[[Any, Callable[[int], None]], R],
    check: Callable[[R], None],
    fmt: str,
    output: str | None,
    view: Any = None,
    by: tuple[str, ...] = (),
    side: Sequence[_SideFile] = (),
) -> R:
    """Run (streaming per-sample rows into the output when the format does), check
    the gates, and write the rendered result all-or-nothing. The output is opened
    first, so an output that cannot be written fails before any scoring. The
    ``side`` files (``--junit``, ``--summary``) are written atomically too:
    drafted before the result is published, published right after it."""
    from xent import render
    from xent.output import AtomicOutput
    from xent.read import use_lean_memory_pool

    use_lean_memory_pool()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(AtomicOutput(output))
        drafts = [stack.enter_context(AtomicOutput(file.path)) for file in side]
        progress = stack.enter_context(_Progress())
        result = run(render.sample_sink(fmt, out.stream, by), progress)
        check(result)
        for file, draft in zip(side, drafts, strict=True):
            file.write(result, draft.stream)
        _render_into(out, result, fmt, output, view)
        for draft in drafts:
            draft.commit()
    return result


def _not_an_input(output: str | None, *inputs: str | None, option: str = "--output") -> None:
    """Refuse an ``--output`` (or ``option``) that is one of the run's own inputs (it
    would be replaced)."""
    if output is None or output == "-" or not os.path.exists(output):
        return
    for path in inputs:
        if path is None or path == "-" or not os.path.exists(path):
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(output, path):
                raise UsageError(
                    f"{option} {output} is one of the inputs ({path}); writing the result there "
                    "would replace it: give another file name"
                )


def _render_into(out: Any, result: Any, fmt: str, output: str | None, view: Any = None) -> None:
    """Render ``result`` into ``out`` and publish it (a table for a terminal is drawn
    on the terminal itself, with its width and colours)."""
    from xent import render

    stdout = sys.stdout
    if fmt == "table" and output is None and stdout is not None and _isatty(stdout):
        out.commit()
        render.write(result, fmt, stdout, terminal=True, view=view)
        return
    render.write(result, fmt, out.stream, view=view)
    out.commit()


class _DaskSettings:
    """Where ``--engine dask`` runs."""

    def __init__(
        self, scheduler: str | None, workers: int | None, per_sample_output: str | None
    ) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.per_sample_output = per_sample_output

    @classmethod
    def of(
        cls,
        engine: Engine,
        scheduler: str | None,
        workers: int | None,
        per_sample_output: str | None,
        output_format: OutputFormat,
    ) -> _DaskSettings | None:
        """The Dask settings of ``--engine dask`` (None for the local engine)."""
        if engine is Engine.local:
            if any(v is not None for v in (scheduler, workers, per_sample_output)):
                raise UsageError(
                    "--scheduler, --workers and --per-sample-output need --engine dask"
                )
            return None
        if output_format is OutputFormat.csv:
            raise UsageError(
                "--engine dask never gathers per-sample rows; use --per-sample-output DIR "
                "instead of --format csv"
            )
        return cls(scheduler, workers, per_sample_output)


class _Progress:
    """A progress line on standard error, only on a terminal and only after a second."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.enabled = sys.stderr is not None and _isatty(sys.stderr) and not os.environ.get("CI")
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
            with contextlib.suppress(OSError, ValueError):
                self.bar.stop()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (ValueError, OSError, AttributeError):
        return False


def _say(message: str) -> None:
    """One line on standard error, made printable; a closed or broken stderr is ignored."""
    from xent.render.text import printable

    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(f"xent: {printable(message)}\n")
        stream.flush()


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (so temporary files are removed), then exit."""


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` while the command runs."""

    def terminate(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not in the main thread
            previous[signum] = signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, handler)


def _usage_message(exc: Exception) -> str:
    """A parser error of Typer as a sentence in xent's voice."""
    from typer._click import exceptions as click_errors

    param = getattr(exc, "param", None)
    if isinstance(exc, click_errors.BadParameter) and param is not None:
        option = max(getattr(param, "opts", []) or [param.name or "value"], key=len)
        if getattr(param, "param_type_name", "") == "argument":
            option = getattr(param, "metavar", None) or option.upper()  # xent schema NAME
        kind = getattr(param.type, "name", "value")
        value = _bad_value(str(exc.format_message()))
        choices = [str(c) for c in getattr(param.type, "choices", None) or []]
        if len(choices) == 2:
            expected = f"{choices[0]} or {choices[1]}"
        elif choices:
            expected = "one of " + ", ".join(choices)
        else:
            expected = {
                "float": "a number",
                "integer": "a whole number",
                "int": "a whole number",
            }.get(kind, f"a {kind}")
        return f"{option} must be {expected}" + (f", not {value}" if value else "")
    context = getattr(exc, "ctx", None)
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    return f"{exc.format_message()}{hint}"  # type: ignore[attr-defined]


def _bad_value(message: str) -> str:
    """The value in a parser message (``Invalid value for '--x': '5%' is not ...``)."""
    after = message.find("': ")
    start = message.find("'", after + 3 if after >= 0 else 0)
    end = message.find("'", start + 1)
    return message[start : end + 1] if 0 <= start < end else ""


def _fail(message: str, code: int) -> NoReturn:
    _say(f"error: {message}")
    sys.exit(code)


def _internal(exc: BaseException) -> NoReturn:
    """A bug: one line asking for a report (the traceback only with ``--debug``)."""
    if _State.debug:
        import traceback

        traceback.print_exc()
    _fail(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in xent {__version__}: "
        "please report it to the xent issue tracker with the command you ran "
        "(rerun with --debug for the traceback)",
        ExitCode.INTERNAL,
    )


def _os_message(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device ({exc.filename or 'a temporary file'}); free space"
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}"


def main(argv: list[str] | None = None) -> None:
    """Run the ``xent`` command; every failure becomes one stderr line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    _State.debug = "--debug" in args
    from xent import limits

    limits.configure_native_libraries()
    code: int = ExitCode.OK
    for stream in (sys.stdout, sys.stderr):
        # Messages and tables never fail on a narrow locale encoding (data goes out as UTF-8).
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        with _signals_as_exceptions():
            result = app(args=args, prog_name="xent", standalone_mode=False)
            code = result if isinstance(result, int) else ExitCode.OK
    except XentError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # `xent` or `xent score` alone: show the help, as a usage error.
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.write(exc.format_message().rstrip("\n") + "\n")
            sys.exit(ExitCode.USAGE)
        _fail(_usage_message(exc), ExitCode.USAGE)
    except (KeyboardInterrupt, typer.Abort):
        _say("interrupted")
        code = ExitCode.INTERRUPTED
    except Terminated:
        _say("terminated")
        code = ExitCode.TERMINATED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        from xent.output import silence_stdout

        silence_stdout()
    except MemoryError:
        _fail(
            "ran out of memory; free memory, or lower XENT_CHUNK_BYTES (see docs/safety.md)",
            ExitCode.ENVIRONMENT,
        )
    except RuntimeError as exc:
        if "thread" not in str(exc):
            _internal(exc)
        _fail(f"cannot start a thread ({exc}): raise the memory limit", ExitCode.ENVIRONMENT)
    except OSError as exc:
        # Not an input (those are InputError): the output or the environment failed.
        _fail(_os_message(exc), ExitCode.ENVIRONMENT)
    except Exception as exc:
        _internal(exc)
    finally:
        spool = sys.modules.get("xent.read.stdin")  # loaded only when - was read
        if spool is not None:
            spool.discard()
    sys.exit(code)
