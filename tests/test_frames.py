"""Tables in memory: ``xent.score`` of a pandas or polars DataFrame or a pyarrow Table.

They follow the layout rules of files (a DataFrame's index, saved in the pandas
metadata of the Arrow table, is recognised as a Parquet file's is) and give the
numbers of scikit-learn.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import log_loss

import xent

CLASSES = np.array(["bird", "cat", "dog"])


@pytest.fixture(scope="module")
def frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.ones(3), size=40)
    y = rng.integers(0, 3, size=40)
    df = pd.DataFrame(proba, columns=CLASSES).assign(target=CLASSES[y])
    df.index = rng.permutation(1000)[:40]  # as after train_test_split
    return df, proba, y


def test_pandas_dataframe_with_its_index(frame: tuple) -> None:
    df, proba, y = frame
    report = xent.score(df)
    assert report.aggregate.loss == pytest.approx(log_loss(y, proba), rel=1e-12)
    assert report.classes == list(CLASSES)
    assert report.index_column == "__index_level_0__"
    assert len(report.top) == 5
    assert {s.id for s in report.top} <= set(df.index)  # the index is the id


def test_default_range_index_is_no_column(frame: tuple) -> None:
    df, proba, y = frame
    report = xent.score(df.reset_index(drop=True))
    assert report.index_column is None
    assert report.aggregate.loss == pytest.approx(log_loss(y, proba), rel=1e-12)


def test_polars_and_pyarrow(frame: tuple) -> None:
    polars = pytest.importorskip("polars")
    df, proba, y = frame
    expected = log_loss(y, proba)
    plain = df.reset_index(drop=True)
    assert xent.score(polars.from_pandas(plain)).aggregate.loss == pytest.approx(
        expected, rel=1e-12
    )
    assert xent.score(pa.Table.from_pandas(plain)).aggregate.loss == pytest.approx(
        expected, rel=1e-12
    )


def test_labels_as_a_dataframe_or_a_file(frame: tuple, tmp_path: Path) -> None:
    df, proba, y = frame
    preds, labels = df[list(CLASSES)], df[["target"]]
    expected = log_loss(y, proba)
    assert xent.score(preds, labels=labels).aggregate.loss == pytest.approx(expected, rel=1e-12)
    labels.to_csv(tmp_path / "y.csv", index=False)
    report = xent.score(preds, labels=str(tmp_path / "y.csv"))
    assert report.aggregate.loss == pytest.approx(expected, rel=1e-12)


def test_options_apply_as_for_files(frame: tuple) -> None:
    df, proba, y = frame
    logits = np.log(proba) + 3.0
    table = pd.DataFrame(logits, columns=CLASSES).assign(target=CLASSES[y])
    report = xent.score(table, inputs="logits", unit="bits")
    assert report.aggregate.loss == pytest.approx(log_loss(y, proba) / np.log(2), rel=1e-12)
    grouped = xent.score(df.assign(g=np.arange(40) % 2), by="g")
    assert grouped.groups is not None
    assert len(grouped.groups) == 2


def test_something_else_is_a_usage_error() -> None:
    with pytest.raises(xent.UsageError):
        xent.score(pa.table({"label": [1, 0], "p": [0.9, 0.2]}), labels=42)
    with pytest.raises((xent.InputError, xent.UsageError)):
        xent.score(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize(
    "data",
    ["id,label,a,b\nx,a,0.9,0.1\ny,b,0.2,0.8\n", "label,p\n1,0.9\n0,0.2\n"],
    ids=["multiclass", "binary"],
)
def test_scoring_a_csv_file_loads_only_what_it_needs(tmp_path: Path, fmt: str, data: str) -> None:
    """The command line never imports pandas, and start-up is most of the time of a
    small file: other modules that a CSV score does not use stay unloaded too
    (NumPy's masked arrays, which ``pa.array`` of a NumPy array loads; xent's NumPy
    reader; pyarrow.compute)."""
    (tmp_path / "p.csv").write_text(data)
    code = (
        "import sys, xent.cli\n"
        f"try:\n    xent.cli.main(['score', 'p.csv', '--format', '{fmt}', '-o', 'out'])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "unused = ('pandas', 'numpy.ma', 'xent.read.numpy', 'zipfile', 'pyarrow.compute')\n"
        "print(sorted(m for m in unused if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
