"""Generate the writer corpus in ``tests/writers/`` and its manifest ``cases.json``.

Users save predictions the everyday way: ``DataFrame.to_csv`` with pandas'
default index, ``to_parquet`` after ``train_test_split``, polars, pyarrow,
``np.save``/``np.savez``/``np.savetxt``, R's ``write.csv``. This script trains
small scikit-learn models (fixed seeds) on iris, wine, breast_cancer and two
synthetic datasets, writes their predictions and labels with those writers and
their default options (floats as the writers write them: full precision,
except pandas ``to_json``, whose default ``double_precision=10`` rounds; the
self-check below shows that this moves the loss by about 1e-11 relative), and
records in ``cases.json``, for each case, the ``xent`` arguments and either the
scikit-learn answer, ``log_loss(y, proba, labels=clf.classes_)`` computed from
the in-memory arrays (never from the files), or the exit code and message
fragments of a file that must be refused.

The R files (``r_*``) are written by ``make_r.R`` from arrays this script hands
it; R is not needed by the tests, so they are committed. When ``Rscript`` is not
on the PATH, the R files already here are kept (the arrays are the same, the
seeds being fixed) and their cases are still written.

Run it from anywhere::

    python tests/writers/make_writers.py

It needs scikit-learn, pandas, polars and pyarrow. After writing, it reads every
prediction file back with pandas/NumPy and checks that the loss of the values in
the file equals the expected loss (1e-9 relative), so a lossy writer is caught.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold, cross_val_predict, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
REL = 1e-9
#: Files of this directory that are not inputs of a case.
NOT_INPUTS = {"make_writers.py", "make_r.R", "cases.json"}
MAX_BYTES = 50_000
MAX_ROWS = 200

#: ``index_column=OMIT``: the case makes no claim about ``detected.index_column``.
OMIT: Any = object()


# --- models -------------------------------------------------------------------


@dataclass
class Fit:
    """A fitted classifier and its test rows (pandas objects keep the shuffled index)."""

    clf: Any
    X: pd.DataFrame
    y: pd.Series

    @property
    def classes(self) -> np.ndarray:
        return np.asarray(self.clf.classes_)

    @property
    def proba(self) -> np.ndarray:
        return np.asarray(self.clf.predict_proba(self.X), dtype=np.float64)

    @property
    def p1(self) -> np.ndarray:
        return self.proba[:, 1]

    @property
    def decision(self) -> np.ndarray:
        return np.asarray(self.clf.decision_function(self.X), dtype=np.float64)

    def loss(self) -> float:
        return float(log_loss(self.y.to_numpy(), self.proba, labels=self.classes))

    def frame(self, prefix: str = "") -> pd.DataFrame:
        """``pd.DataFrame(proba, columns=clf.classes_, index=X_test.index)``."""
        columns = [f"{prefix}{c}" for c in self.classes] if prefix else list(self.classes)
        return pd.DataFrame(self.proba, columns=columns, index=self.X.index)


def fit(model: Any, X: pd.DataFrame, y: pd.Series, test_size: int | float, seed: int) -> Fit:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    return Fit(model.fit(X_train, y_train), X_test, y_test)


def logistic() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def build_fits() -> dict[str, Fit]:
    iris = load_iris(as_frame=True)
    iris_int = iris.target
    iris_str = iris_int.map(dict(enumerate(iris.target_names.tolist())))
    wine = load_wine(as_frame=True)
    wine_str = wine.target.map(dict(enumerate(wine.target_names.tolist())))  # class_0, ...
    wine_uci = wine.target + 1  # the UCI file's coding: 1, 2, 3
    cancer = load_breast_cancer(as_frame=True)  # 0 malignant, 1 benign

    X3, y3 = make_classification(
        n_samples=300,
        n_features=8,
        n_informative=5,
        n_redundant=1,
        n_classes=3,
        random_state=1,
    )
    X3f = pd.DataFrame(X3, columns=[f"f{i}" for i in range(X3.shape[1])])
    y3s = pd.Series(np.array(["cat", "dog", "bird"])[y3], name="label")
    X2, y2 = make_classification(
        n_samples=300, n_features=6, n_informative=3, flip_y=0.1, random_state=2
    )
    X2f = pd.DataFrame(X2, columns=[f"f{i}" for i in range(X2.shape[1])])
    y2b = pd.Series(y2.astype(bool), name="label")
    y2yn = pd.Series(np.where(y2 == 1, "yes", "no"), name="label")

    return {
        "iris_int": fit(LogisticRegression(max_iter=2000), iris.data, iris_int, 0.4, 0),
        "iris_str": fit(LogisticRegression(max_iter=2000), iris.data, iris_str, 0.4, 0),
        "iris_rf": fit(
            RandomForestClassifier(n_estimators=25, random_state=0), iris.data, iris_str, 0.4, 3
        ),
        "wine_str": fit(logistic(), wine.data, wine_str, 0.4, 0),
        "wine_uci": fit(logistic(), wine.data, wine_uci, 0.4, 1),
        "cancer": fit(logistic(), cancer.data, cancer.target, 150, 0),
        "cancer_gnb": fit(GaussianNB(), cancer.data, cancer.target == 1, 150, 1),
        "synth3": fit(LogisticRegression(max_iter=2000), X3f, y3s, 100, 0),
        "synth_bool": fit(LogisticRegression(max_iter=2000), X2f, y2b, 100, 0),
        "synth_yesno": fit(LogisticRegression(max_iter=2000), X2f, y2yn, 100, 0),
    }


# --- cases --------------------------------------------------------------------

CASES: list[dict[str, Any]] = []
#: name -> (y, values read back from the file, labels, kind) for the self-check.
CHECKS: dict[str, tuple[Any, Callable[[], np.ndarray], Any, str]] = {}


def path(name: str) -> Path:
    return HERE / name


def _classes(values: Sequence[Any]) -> list[str]:
    return [str(v) for v in values]


def loss_case(
    name: str,
    writer: str,
    layout: str,
    labels_kind: str,
    args: Sequence[str],
    model: Fit,
    classes: Sequence[Any],
    *,
    index_column: Any = None,
    reread: Callable[[], np.ndarray],
    inputs: str = "probs",
    y: Any = None,
    proba: np.ndarray | None = None,
    labels: Any = None,
) -> None:
    """A case xent must score: the expected loss is scikit-learn's, from memory."""
    y = model.y.to_numpy() if y is None else y
    proba = model.proba if proba is None else proba
    labels = model.classes if labels is None else labels
    expect: dict[str, Any] = {
        "loss": float(log_loss(y, proba, labels=labels)),
        "classes": _classes(classes),
    }
    if index_column is not OMIT:
        expect["index_column"] = index_column
    CASES.append(
        {
            "name": name,
            "writer": writer,
            "layout": layout,
            "labels": labels_kind,
            "args": [*args, "--format", "json"],
            "expect": expect,
        }
    )
    CHECKS[name] = (y, reread, labels, inputs)


def error_case(
    name: str,
    writer: str,
    layout: str,
    labels_kind: str,
    args: Sequence[str],
    exit_code: int,
    stderr_contains: Sequence[str],
) -> None:
    """A case xent must refuse with ``exit_code`` and a message holding the fragments."""
    CASES.append(
        {
            "name": name,
            "writer": writer,
            "layout": layout,
            "labels": labels_kind,
            "args": [*args, "--format", "json"],
            "expect": {"exit": exit_code, "stderr_contains": list(stderr_contains)},
        }
    )


def csv_values(name: str, columns: Sequence[str], **kwargs: Any) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        frame = pd.read_csv(path(name), keep_default_na=False, **kwargs)
        return frame[list(columns)].to_numpy(dtype=np.float64)

    return read


def table_values(name: str, columns: Sequence[str]) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        if name.endswith(".parquet"):
            table = pq.read_table(path(name))
        elif name.endswith((".feather", ".arrow")):
            table = feather.read_table(path(name))
        else:  # JSON Lines
            frame = pd.read_json(path(name), lines=True, precise_float=True)
            return frame[list(columns)].to_numpy(dtype=np.float64)
        return np.column_stack([table.column(c).to_numpy() for c in columns]).astype(np.float64)

    return read


def npy_values(name: str, key: str | None = None) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        if key is None:
            return np.asarray(np.load(path(name), allow_pickle=False), dtype=np.float64)
        with np.load(path(name), allow_pickle=False) as archive:
            return np.asarray(archive[key], dtype=np.float64)

    return read


def squeeze(read: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """A binary prediction read as one column: the 1-D positive-class probability."""
    return lambda: read().reshape(-1)


# --- pandas ---------------------------------------------------------------------


def pandas_cases(f: dict[str, Fit]) -> None:
    W = "pandas"

    m = f["iris_int"]
    pd.DataFrame(m.proba, columns=m.clf.classes_).assign(target=m.y.to_numpy()).to_csv(
        path("pandas_index.csv")
    )
    loss_case(
        "pandas_index_csv_int",
        f"{W} to_csv() default index; columns=clf.classes_ (0,1,2)",
        "one table",
        "multiclass int",
        ["score", "pandas_index.csv"],
        m,
        ["0", "1", "2"],
        index_column="",
        reread=csv_values("pandas_index.csv", ["0", "1", "2"]),
    )

    m = f["iris_str"]
    pd.DataFrame(m.proba, columns=m.clf.classes_).assign(target=m.y.to_numpy()).to_csv(
        path("pandas_index_str.csv")
    )
    loss_case(
        "pandas_index_csv_str",
        f"{W} to_csv() default index; columns=clf.classes_",
        "one table",
        "multiclass string",
        ["score", "pandas_index_str.csv"],
        m,
        m.classes,
        index_column="",
        reread=csv_values("pandas_index_str.csv", list(m.classes)),
    )

    # Read back and written again: the index becomes a column 'Unnamed: 0'.
    pd.read_csv(path("pandas_index_str.csv")).to_csv(path("pandas_reread.csv"), index=False)
    loss_case(
        "pandas_reread_unnamed0",
        f"{W} read_csv(...).to_csv(index=False): 'Unnamed: 0'",
        "one table",
        "multiclass string",
        ["score", "pandas_reread.csv"],
        m,
        m.classes,
        index_column="Unnamed: 0",
        reread=csv_values("pandas_reread.csv", list(m.classes)),
    )
    # ... and with the default index=True: '' then 'Unnamed: 0' (integers 0..N-1).
    pd.read_csv(path("pandas_index_str.csv")).to_csv(path("pandas_reread_twice.csv"))
    error_case(
        "pandas_reread_twice_refused",
        f"{W} read_csv(...).to_csv(): columns '', 'Unnamed: 0', ...",
        "one table",
        "multiclass string",
        ["score", "pandas_reread_twice.csv"],
        3,
        ["'Unnamed: 0'", "--id-col", "--pred-cols"],
    )

    m = f["synth3"]
    m.frame("p_").assign(label=m.y).to_csv(path("pandas_noindex.csv"), index=False)
    loss_case(
        "pandas_noindex_csv",
        f"{W} to_csv(index=False); p_<class> columns",
        "one table",
        "multiclass string",
        ["score", "pandas_noindex.csv"],
        m,
        m.classes,
        reread=csv_values("pandas_noindex.csv", [f"p_{c}" for c in m.classes]),
    )
    # A named index (after train_test_split) in CSV: a named integer column.
    m.frame("p_").assign(label=m.y).rename_axis("sample").to_csv(path("pandas_named_index.csv"))
    error_case(
        "pandas_named_index_csv_refused",
        f"{W} to_csv() with an index named 'sample'",
        "one table",
        "multiclass string",
        ["score", "pandas_named_index.csv"],
        3,
        ["'sample'", "--id-col", "--pred-cols"],
    )
    loss_case(
        "pandas_named_index_csv_id_col",
        f"{W} to_csv() with an index named 'sample'",
        "one table",
        "multiclass string",
        ["score", "pandas_named_index.csv", "--id-col", "sample"],
        m,
        m.classes,
        reread=csv_values("pandas_named_index.csv", [f"p_{c}" for c in m.classes]),
    )

    m = f["cancer"]
    pd.DataFrame({"y_true": m.y, "y_prob": m.p1}).to_csv(path("pandas_split_binary.csv"))
    loss_case(
        "pandas_split_binary_csv",
        f"{W} DataFrame({{'y_true': y_test, 'y_prob': p1}}).to_csv()",
        "one table",
        "binary 0/1",
        ["score", "pandas_split_binary.csv"],
        m,
        ["0", "1"],
        index_column="",
        y=m.y.to_numpy(),
        proba=m.p1,
        reread=squeeze(csv_values("pandas_split_binary.csv", ["y_prob"])),
    )
    m.frame().assign(target=m.y).to_csv(path("pandas_split_proba.csv"))
    loss_case(
        "pandas_split_proba_csv",
        f"{W} DataFrame(proba, columns=clf.classes_, index=X_test.index).to_csv()",
        "one table",
        "binary 0/1",
        ["score", "pandas_split_proba.csv"],
        m,
        ["0", "1"],
        index_column="",
        reread=csv_values("pandas_split_proba.csv", ["0", "1"]),
    )

    m = f["wine_str"]
    m.frame().assign(target=m.y).to_csv(path("pandas_wine.csv"))
    loss_case(
        "pandas_wine_csv",
        f"{W} to_csv() default index; wine classes class_0..2",
        "one table",
        "multiclass string",
        ["score", "pandas_wine.csv"],
        m,
        m.classes,
        index_column="",
        reread=csv_values("pandas_wine.csv", list(m.classes)),
    )
    m.frame().assign(target=m.y).to_csv(path("pandas_wine_noindex.csv"), index=False)
    loss_case(
        "pandas_wine_noindex_csv",
        f"{W} to_csv(index=False); wine classes class_0..2",
        "one table",
        "multiclass string",
        ["score", "pandas_wine_noindex.csv"],
        m,
        m.classes,
        reread=csv_values("pandas_wine_noindex.csv", list(m.classes)),
    )

    m = f["wine_uci"]
    m.frame().assign(target=m.y).to_csv(path("pandas_wine_uci.csv"), index=False)
    loss_case(
        "pandas_wine_uci_csv",
        f"{W} to_csv(index=False); labels and columns 1,2,3",
        "one table",
        "multiclass int",
        ["score", "pandas_wine_uci.csv"],
        m,
        ["1", "2", "3"],
        reread=csv_values("pandas_wine_uci.csv", ["1", "2", "3"]),
    )

    m = f["synth_bool"]
    pd.DataFrame({"label": m.y.to_numpy(), "p": m.p1}).to_csv(path("pandas_bool.csv"), index=False)
    loss_case(
        "pandas_bool_csv",
        f"{W} to_csv(index=False); bool labels True/False",
        "one table",
        "binary bool",
        ["score", "pandas_bool.csv"],
        m,
        ["False", "True"],
        proba=m.p1,
        reread=squeeze(csv_values("pandas_bool.csv", ["p"])),
    )
    pd.DataFrame({"label": m.y.to_numpy(), "p": m.p1}).to_json(
        path("pandas_bool.jsonl"), orient="records", lines=True
    )
    loss_case(
        "pandas_bool_jsonl",
        f"{W} to_json(orient='records', lines=True) (default double_precision=10); JSON booleans",
        "one table",
        "binary bool",
        ["score", "pandas_bool.jsonl"],
        m,
        ["False", "True"],
        proba=m.p1,
        reread=squeeze(table_values("pandas_bool.jsonl", ["p"])),
    )

    m = f["synth_yesno"]
    pd.DataFrame(m.proba, columns=m.clf.classes_).assign(label=m.y.to_numpy()).to_csv(
        path("pandas_yesno.csv")
    )
    loss_case(
        "pandas_yesno_csv",
        f"{W} to_csv() default index; columns=clf.classes_ (no, yes)",
        "one table",
        "binary yes/no",
        ["score", "pandas_yesno.csv"],
        m,
        ["no", "yes"],
        index_column="",
        reread=csv_values("pandas_yesno.csv", ["no", "yes"]),
    )
    pd.DataFrame({"target": m.y, "p_yes": m.p1}).to_csv(path("pandas_yesno_p.csv"), index=False)
    loss_case(
        "pandas_yesno_one_column_csv",
        f"{W} to_csv(index=False); one column p_yes",
        "one table",
        "binary yes/no",
        ["score", "pandas_yesno_p.csv"],
        m,
        ["no", "yes"],
        proba=m.p1,
        reread=squeeze(csv_values("pandas_yesno_p.csv", ["p_yes"])),
    )

    m = f["iris_str"]
    m.frame().assign(target=m.y).to_parquet(path("pandas_split.parquet"))
    loss_case(
        "pandas_split_parquet",
        f"{W} to_parquet() after train_test_split: __index_level_0__",
        "one table",
        "multiclass string",
        ["score", "pandas_split.parquet"],
        m,
        m.classes,
        index_column="__index_level_0__",
        reread=table_values("pandas_split.parquet", list(m.classes)),
    )
    m.frame().assign(target=m.y).reset_index().to_feather(path("pandas_reset_index.feather"))
    error_case(
        "pandas_reset_index_feather_refused",
        f"{W} reset_index().to_feather(): an integer column 'index'",
        "one table",
        "multiclass string",
        ["score", "pandas_reset_index.feather"],
        3,
        ["'index'", "--id-col", "--pred-cols"],
    )
    loss_case(
        "pandas_reset_index_feather_id_col",
        f"{W} reset_index().to_feather(): an integer column 'index'",
        "one table",
        "multiclass string",
        ["score", "pandas_reset_index.feather", "--id-col", "index"],
        m,
        m.classes,
        reread=table_values("pandas_reset_index.feather", list(m.classes)),
    )

    m = f["cancer"]
    pd.DataFrame({"target": m.y, "p": m.p1}).to_parquet(path("pandas_noindex.parquet"), index=False)
    loss_case(
        "pandas_noindex_parquet",
        f"{W} to_parquet(index=False)",
        "one table",
        "binary 0/1",
        ["score", "pandas_noindex.parquet"],
        m,
        ["0", "1"],
        proba=m.p1,
        reread=squeeze(table_values("pandas_noindex.parquet", ["p"])),
    )

    m = f["iris_int"]
    pd.DataFrame(m.proba, columns=[str(c) for c in m.classes]).assign(
        target=m.y.to_numpy()
    ).to_parquet(path("pandas_range.parquet"))
    loss_case(
        "pandas_rangeindex_parquet",
        f"{W} to_parquet() with a RangeIndex (metadata only)",
        "one table",
        "multiclass int",
        ["score", "pandas_range.parquet"],
        m,
        ["0", "1", "2"],
        reread=table_values("pandas_range.parquet", ["0", "1", "2"]),
    )

    m = f["synth3"]
    frame = m.frame("prob_").assign(label=pd.Categorical(m.y))
    frame.to_parquet(path("pandas_categorical.parquet"), index=False)
    loss_case(
        "pandas_categorical_parquet",
        f"{W} to_parquet(index=False); categorical labels",
        "one table",
        "categorical",
        ["score", "pandas_categorical.parquet"],
        m,
        m.classes,
        reread=table_values("pandas_categorical.parquet", [f"prob_{c}" for c in m.classes]),
    )
    frame = m.frame("prob_").assign(label=pd.Categorical(m.y, categories=["cat", "dog", "bird"]))
    frame.reset_index(drop=True).to_feather(path("pandas_categorical.feather"))
    loss_case(
        "pandas_categorical_feather",
        f"{W} reset_index(drop=True).to_feather(); categorical labels (cat, dog, bird)",
        "one table",
        "categorical",
        ["score", "pandas_categorical.feather"],
        m,
        m.classes,
        reread=table_values("pandas_categorical.feather", [f"prob_{c}" for c in m.classes]),
    )
    m.frame("p_").assign(label=m.y).to_json(
        path("pandas_records.jsonl"), orient="records", lines=True
    )
    loss_case(
        "pandas_records_jsonl",
        f"{W} to_json(orient='records', lines=True) (default double_precision=10)",
        "one table",
        "multiclass string",
        ["score", "pandas_records.jsonl"],
        m,
        m.classes,
        reread=table_values("pandas_records.jsonl", [f"p_{c}" for c in m.classes]),
    )

    m = f["wine_str"]
    m.frame().assign(target=m.y).rename_axis("sample_id").to_feather(
        path("pandas_named_index.feather")
    )
    loss_case(
        "pandas_named_index_feather",
        f"{W} to_feather() with an index named 'sample_id'",
        "one table",
        "multiclass string",
        ["score", "pandas_named_index.feather"],
        m,
        m.classes,
        index_column="sample_id",
        reread=table_values("pandas_named_index.feather", list(m.classes)),
    )

    m = f["synth3"]
    m.frame("p_").assign(label=m.y).to_csv(path("pandas_index.tsv"), sep="\t")
    loss_case(
        "pandas_index_tsv",
        f"{W} to_csv(sep='\\t') default index",
        "one table",
        "multiclass string",
        ["score", "pandas_index.tsv"],
        m,
        m.classes,
        index_column="",
        reread=csv_values("pandas_index.tsv", [f"p_{c}" for c in m.classes], sep="\t"),
    )

    # gzip from the suffix; mtime=0 only keeps the bytes stable between runs.
    m = f["wine_uci"]
    m.frame().assign(target=m.y).to_csv(
        path("pandas_index.csv.gz"), compression={"method": "gzip", "mtime": 0}
    )
    loss_case(
        "pandas_index_csv_gz",
        f"{W} to_csv('p.csv.gz') default index; labels and columns 1,2,3",
        "one table",
        "multiclass int",
        ["score", "pandas_index.csv.gz"],
        m,
        ["1", "2", "3"],
        index_column="",
        reread=csv_values("pandas_index.csv.gz", ["1", "2", "3"]),
    )

    # --- two files ---
    m = f["iris_int"]
    pd.DataFrame(m.proba).to_csv(path("pandas_proba_header012.csv"), index=False)
    pd.Series(m.y.to_numpy()).to_csv(path("pandas_y_header0.csv"), index=False)
    loss_case(
        "pandas_two_files_header_0",
        f"{W} DataFrame(proba).to_csv(index=False) + "
        "Series(y).to_csv(index=False): headers '0,1,2' and '0'",
        "two files by position",
        "multiclass int",
        ["score", "pandas_proba_header012.csv", "--labels", "pandas_y_header0.csv"],
        m,
        ["0", "1", "2"],
        reread=csv_values("pandas_proba_header012.csv", ["0", "1", "2"]),
    )

    m = f["cancer"]
    pd.Series(m.p1).to_csv(path("pandas_p1_header0.csv"), index=False)
    pd.Series(m.y.to_numpy()).to_csv(path("pandas_y01_header0.csv"), index=False)
    loss_case(
        "pandas_two_files_binary_header_0",
        f"{W} Series(p1).to_csv(index=False) + Series(y).to_csv(index=False): both headers '0'",
        "two files by position",
        "binary 0/1",
        ["score", "pandas_p1_header0.csv", "--labels", "pandas_y01_header0.csv"],
        m,
        ["0", "1"],
        proba=m.p1,
        reread=squeeze(csv_values("pandas_p1_header0.csv", ["0"])),
    )

    m = f["iris_str"]
    m.frame().to_csv(path("pandas_proba_index.csv"))
    m.y.to_csv(path("pandas_y_index.csv"))
    loss_case(
        "pandas_two_files_index",
        f"{W} DataFrame(proba, index=X_test.index).to_csv() + "
        "y_test.to_csv(): both with the default index",
        "two files by position",
        "multiclass string",
        ["score", "pandas_proba_index.csv", "--labels", "pandas_y_index.csv"],
        m,
        m.classes,
        index_column="",
        reread=csv_values("pandas_proba_index.csv", list(m.classes)),
    )

    m = f["wine_str"]
    m.frame().to_csv(path("pandas_wine_proba.csv"), index=False)
    m.y.to_frame().to_csv(path("pandas_wine_y.csv"), index=False)
    loss_case(
        "pandas_two_files_wine",
        f"{W} to_csv(index=False) twice; wine classes class_0..2",
        "two files by position",
        "multiclass string",
        ["score", "pandas_wine_proba.csv", "--labels", "pandas_wine_y.csv"],
        m,
        m.classes,
        reread=csv_values("pandas_wine_proba.csv", list(m.classes)),
    )

    m = f["synth3"]
    m.frame("p_").rename_axis("sample_id").to_parquet(path("pandas_id_preds.parquet"))
    m.y.rename_axis("sample_id").sort_index().to_frame("label").to_parquet(
        path("pandas_id_labels.parquet")
    )
    loss_case(
        "pandas_two_files_parquet_id_col",
        f"{W} to_parquet() with an index named 'sample_id', labels sorted by it",
        "two files by --id-col",
        "multiclass string",
        [
            "score",
            "pandas_id_preds.parquet",
            "--labels",
            "pandas_id_labels.parquet",
            "--id-col",
            "sample_id",
        ],
        m,
        m.classes,
        index_column=OMIT,
        reread=table_values("pandas_id_preds.parquet", [f"p_{c}" for c in m.classes]),
    )


# --- polars -------------------------------------------------------------------


def polars_cases(f: dict[str, Fit]) -> None:
    W = "polars"

    m = f["synth3"]
    pl.DataFrame(
        {"label": m.y.to_numpy(), **{f"prob_{c}": m.proba[:, i] for i, c in enumerate(m.classes)}}
    ).write_csv(path("polars.csv"))
    loss_case(
        "polars_csv",
        f"{W} write_csv",
        "one table",
        "multiclass string",
        ["score", "polars.csv"],
        m,
        m.classes,
        reread=csv_values("polars.csv", [f"prob_{c}" for c in m.classes]),
    )

    m = f["synth_bool"]
    pl.DataFrame({"y": m.y.to_numpy(), "p": m.p1}).write_csv(path("polars_bool.csv"))
    loss_case(
        "polars_bool_csv",
        f"{W} write_csv; bool labels written true/false",
        "one table",
        "binary bool",
        ["score", "polars_bool.csv"],
        m,
        ["false", "true"],
        proba=m.p1,
        reread=squeeze(csv_values("polars_bool.csv", ["p"])),
    )

    m = f["iris_int"]
    names = ["setosa", "versicolor", "virginica"]
    pl.DataFrame(
        {**{f"p_{n}": m.proba[:, i] for i, n in enumerate(names)}, "label": m.y.to_numpy()}
    ).write_parquet(path("polars.parquet"))
    loss_case(
        "polars_parquet_int_labels",
        f"{W} write_parquet; integer labels 0..2, named columns",
        "one table",
        "multiclass int",
        ["score", "polars.parquet"],
        m,
        names,
        reread=table_values("polars.parquet", [f"p_{n}" for n in names]),
    )

    m = f["cancer_gnb"]
    pl.DataFrame({"label": m.y.to_numpy(), "p_benign": m.p1}).write_parquet(
        path("polars_bool.parquet")
    )
    loss_case(
        "polars_bool_parquet",
        f"{W} write_parquet; bool labels; GaussianNB (clipped values)",
        "one table",
        "binary bool",
        ["score", "polars_bool.parquet"],
        m,
        ["False", "True"],
        proba=m.p1,
        reread=squeeze(table_values("polars_bool.parquet", ["p_benign"])),
    )

    m = f["wine_str"]
    pl.DataFrame(
        {"target": m.y.to_numpy(), **{str(c): m.proba[:, i] for i, c in enumerate(m.classes)}}
    ).write_ndjson(path("polars.ndjson"))
    loss_case(
        "polars_ndjson_wine",
        f"{W} write_ndjson; wine classes class_0..2",
        "one table",
        "multiclass string",
        ["score", "polars.ndjson"],
        m,
        m.classes,
        reread=table_values("polars.ndjson", list(m.classes)),
    )

    m = f["iris_str"]
    pl.DataFrame(
        {**{str(c): m.proba[:, i] for i, c in enumerate(m.classes)}, "target": m.y.to_numpy()}
    ).with_row_index().write_csv(path("polars_row_index.csv"))
    error_case(
        "polars_row_index_csv_refused",
        f"{W} with_row_index().write_csv(): column 'index'",
        "one table",
        "multiclass string",
        ["score", "polars_row_index.csv"],
        3,
        ["'index'", "--id-col", "--pred-cols"],
    )
    loss_case(
        "polars_row_index_csv_id_col",
        f"{W} with_row_index().write_csv(): column 'index'",
        "one table",
        "multiclass string",
        ["score", "polars_row_index.csv", "--id-col", "index"],
        m,
        m.classes,
        reread=csv_values("polars_row_index.csv", list(m.classes)),
    )

    m = f["synth_yesno"]
    ids = [f"s{i:03d}" for i in m.X.index]
    pl.DataFrame({"id": ids, "p_yes": m.p1}).write_csv(path("polars_id_preds.csv"))
    order = np.argsort(ids)[::-1]
    pl.DataFrame({"id": np.asarray(ids)[order], "label": m.y.to_numpy()[order]}).write_parquet(
        path("polars_id_labels.parquet")
    )
    loss_case(
        "polars_two_files_id_col",
        f"{W} write_csv + write_parquet, labels in another order",
        "two files by --id-col",
        "binary yes/no",
        ["score", "polars_id_preds.csv", "--labels", "polars_id_labels.parquet", "--id-col", "id"],
        m,
        ["no", "yes"],
        proba=m.p1,
        reread=squeeze(csv_values("polars_id_preds.csv", ["p_yes"])),
    )

    m = f["iris_str"]
    pl.DataFrame({f"p_{c}": m.proba[:, i] for i, c in enumerate(m.classes)}).write_parquet(
        path("polars_preds.parquet")
    )
    pl.DataFrame({"species": m.y.to_numpy()}).write_ndjson(path("polars_labels.ndjson"))
    loss_case(
        "polars_two_files_position",
        f"{W} write_parquet + write_ndjson (column 'species')",
        "two files by position",
        "multiclass string",
        ["score", "polars_preds.parquet", "--labels", "polars_labels.ndjson"],
        m,
        m.classes,
        reread=table_values("polars_preds.parquet", [f"p_{c}" for c in m.classes]),
    )

    # Out-of-fold predictions with their fold number, as cross_val_predict users save them.
    X3, y3 = make_classification(
        n_samples=300,
        n_features=8,
        n_informative=5,
        n_redundant=1,
        n_classes=3,
        random_state=1,
    )
    X, y = X3[:150], np.array(["cat", "dog", "bird"])[y3[:150]]
    cv = KFold(n_splits=5, shuffle=True, random_state=0)
    proba = cross_val_predict(
        LogisticRegression(max_iter=2000), X, y, cv=cv, method="predict_proba"
    )
    fold = np.empty(len(y), dtype=np.int64)
    for k, (_, test) in enumerate(cv.split(X)):
        fold[test] = k
    classes = np.unique(y)
    pl.DataFrame(
        {"fold": fold, "label": y, **{f"p_{c}": proba[:, i] for i, c in enumerate(classes)}}
    ).write_csv(path("polars_cv_fold.csv"))
    error_case(
        "polars_cv_fold_csv_refused",
        f"{W} write_csv of cross_val_predict with a 'fold' column",
        "one table",
        "multiclass string",
        ["score", "polars_cv_fold.csv"],
        3,
        ["'fold'", "--id-col", "--pred-cols"],
    )
    cv_fit = Fit(None, pd.DataFrame(X), pd.Series(y))
    loss_case(
        "polars_cv_fold_csv_pred_cols",
        f"{W} write_csv of cross_val_predict with a 'fold' column",
        "one table",
        "multiclass string",
        ["score", "polars_cv_fold.csv", "--pred-cols", "p_*"],
        cv_fit,
        classes,
        y=y,
        proba=proba,
        labels=classes,
        reread=csv_values("polars_cv_fold.csv", [f"p_{c}" for c in classes]),
    )

    m = f["synth3"]
    pl.DataFrame(
        {
            "label": pl.Series(m.y.to_numpy(), dtype=pl.Categorical),
            **{f"p_{c}": m.proba[:, i] for i, c in enumerate(m.classes)},
        }
    ).write_parquet(path("polars_categorical.parquet"))
    loss_case(
        "polars_categorical_parquet",
        f"{W} write_parquet; pl.Categorical labels",
        "one table",
        "categorical",
        ["score", "polars_categorical.parquet"],
        m,
        m.classes,
        reread=table_values("polars_categorical.parquet", [f"p_{c}" for c in m.classes]),
    )

    m = f["cancer"]
    pl.DataFrame({"label": m.y.to_numpy(), "p": m.p1}).write_ndjson(path("polars_binary.ndjson"))
    loss_case(
        "polars_binary_ndjson",
        f"{W} write_ndjson; labels 0/1",
        "one table",
        "binary 0/1",
        ["score", "polars_binary.ndjson"],
        m,
        ["0", "1"],
        proba=m.p1,
        reread=squeeze(table_values("polars_binary.ndjson", ["p"])),
    )


# --- pyarrow --------------------------------------------------------------------


def pyarrow_cases(f: dict[str, Fit]) -> None:
    W = "pyarrow"

    m = f["cancer"]
    frame = pd.DataFrame({"target": m.y, "proba": m.p1})  # index: X_test.index
    pq.write_table(pa.Table.from_pandas(frame), path("pyarrow_from_pandas.parquet"))
    loss_case(
        "pyarrow_from_pandas_parquet",
        f"{W} pq.write_table(pa.Table.from_pandas(df)) after train_test_split",
        "one table",
        "binary 0/1",
        ["score", "pyarrow_from_pandas.parquet"],
        m,
        ["0", "1"],
        index_column="__index_level_0__",
        proba=m.p1,
        reread=squeeze(table_values("pyarrow_from_pandas.parquet", ["proba"])),
    )

    m = f["iris_str"]
    table = pa.table(
        {
            "label": pa.array(m.y.to_numpy()).dictionary_encode(),
            **{f"p_{c}": pa.array(m.proba[:, i]) for i, c in enumerate(m.classes)},
        }
    )
    feather.write_feather(table, path("pyarrow.feather"))
    loss_case(
        "pyarrow_feather_dictionary",
        f"{W} feather.write_feather; dictionary-encoded labels",
        "one table",
        "categorical",
        ["score", "pyarrow.feather"],
        m,
        m.classes,
        reread=table_values("pyarrow.feather", [f"p_{c}" for c in m.classes]),
    )

    m = f["synth_yesno"]
    pq.write_table(
        pa.table({"label": m.y.to_numpy(), "prob_yes": m.p1}), path("pyarrow_yesno.parquet")
    )
    loss_case(
        "pyarrow_yesno_parquet",
        f"{W} pq.write_table; yes/no labels, one column",
        "one table",
        "binary yes/no",
        ["score", "pyarrow_yesno.parquet"],
        m,
        ["no", "yes"],
        proba=m.p1,
        reread=squeeze(table_values("pyarrow_yesno.parquet", ["prob_yes"])),
    )

    m = f["cancer_gnb"]
    table = pa.table({"label": m.y.to_numpy(), "p": m.p1})
    with (
        pa.OSFile(str(path("pyarrow_bool.arrow")), "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as writer,
    ):
        writer.write_table(table)
    loss_case(
        "pyarrow_ipc_bool",
        f"{W} pa.ipc.new_file (Arrow IPC file); bool labels; GaussianNB",
        "one table",
        "binary bool",
        ["score", "pyarrow_bool.arrow"],
        m,
        ["False", "True"],
        proba=m.p1,
        reread=squeeze(table_values("pyarrow_bool.arrow", ["p"])),
    )

    m = f["wine_str"]
    frame = m.frame().assign(target=m.y)  # index: X_test.index
    feather.write_feather(pa.Table.from_pandas(frame), path("pyarrow_from_pandas.feather"))
    loss_case(
        "pyarrow_from_pandas_feather",
        f"{W} feather.write_feather(pa.Table.from_pandas(df)) after train_test_split",
        "one table",
        "multiclass string",
        ["score", "pyarrow_from_pandas.feather"],
        m,
        m.classes,
        index_column="__index_level_0__",
        reread=table_values("pyarrow_from_pandas.feather", list(m.classes)),
    )

    m = f["wine_uci"]
    ids = m.X.index.to_numpy().astype(np.int64)
    pq.write_table(
        pa.table({"id": ids, **{str(c): m.proba[:, i] for i, c in enumerate(m.classes)}}),
        path("pyarrow_id_preds.parquet"),
    )
    order = np.argsort(ids)
    feather.write_feather(
        pa.table({"id": ids[order], "y": m.y.to_numpy()[order]}), path("pyarrow_id_labels.feather")
    )
    loss_case(
        "pyarrow_two_files_id_col",
        f"{W} pq.write_table + feather.write_feather; int64 ids, labels 1,2,3 sorted by id",
        "two files by --id-col",
        "multiclass int",
        [
            "score",
            "pyarrow_id_preds.parquet",
            "--labels",
            "pyarrow_id_labels.feather",
            "--id-col",
            "id",
        ],
        m,
        ["1", "2", "3"],
        reread=table_values("pyarrow_id_preds.parquet", ["1", "2", "3"]),
    )


# --- NumPy ------------------------------------------------------------------------


def numpy_cases(f: dict[str, Fit]) -> None:
    W = "numpy"

    m = f["iris_int"]
    np.save(path("numpy_proba.npy"), m.proba)
    np.save(path("numpy_y.npy"), m.y.to_numpy())
    loss_case(
        "numpy_npy_int",
        f"{W} np.save(proba), np.save(y): integer labels",
        "numpy",
        "multiclass int",
        ["score", "numpy_proba.npy", "--labels", "numpy_y.npy"],
        m,
        ["0", "1", "2"],
        reread=npy_values("numpy_proba.npy"),
    )
    np.save(path("sklearn_decision.npy"), m.decision)
    loss_case(
        "sklearn_decision_npy",
        "scikit-learn decision_function (multiclass) saved with np.save",
        "numpy",
        "multiclass int",
        ["score", "sklearn_decision.npy", "--labels", "numpy_y.npy"],
        m,
        ["0", "1", "2"],
        inputs="logits",
        reread=npy_values("sklearn_decision.npy"),
    )

    m = f["wine_str"]
    np.save(path("numpy_wine_proba.npy"), m.proba)
    np.save(path("numpy_wine_y.npy"), m.y.to_numpy().astype(str))
    loss_case(
        "numpy_npy_str_classes",
        f"{W} np.save; string labels class_0..2 and --classes",
        "numpy",
        "multiclass string",
        [
            "score",
            "numpy_wine_proba.npy",
            "--labels",
            "numpy_wine_y.npy",
            "--classes",
            ",".join(m.classes),
        ],
        m,
        m.classes,
        reread=npy_values("numpy_wine_proba.npy"),
    )

    m = f["synth_bool"]
    np.save(path("numpy_p1.npy"), m.p1)
    np.save(path("numpy_y_bool.npy"), m.y.to_numpy())
    loss_case(
        "numpy_npy_bool",
        f"{W} np.save(proba[:, 1]), np.save(y): bool labels",
        "numpy",
        "binary bool",
        ["score", "numpy_p1.npy", "--labels", "numpy_y_bool.npy"],
        m,
        ["False", "True"],
        proba=m.p1,
        reread=npy_values("numpy_p1.npy"),
    )

    m = f["synth_yesno"]
    np.save(path("numpy_p1_yesno.npy"), m.p1)
    np.save(path("numpy_y_yesno.npy"), m.y.to_numpy().astype(str))
    loss_case(
        "numpy_npy_yesno",
        f"{W} np.save(proba[:, 1]), np.save(y): yes/no string labels",
        "numpy",
        "binary yes/no",
        ["score", "numpy_p1_yesno.npy", "--labels", "numpy_y_yesno.npy"],
        m,
        ["no", "yes"],
        proba=m.p1,
        reread=npy_values("numpy_p1_yesno.npy"),
    )

    m = f["synth3"]
    np.savez(path("numpy_named.npz"), proba=m.proba, y_true=m.y.to_numpy().astype(str))
    loss_case(
        "numpy_npz_named",
        f"{W} np.savez(f, proba=..., y_true=...): string labels",
        "numpy",
        "multiclass string",
        ["score", "numpy_named.npz", "--classes", ",".join(m.classes)],
        m,
        m.classes,
        reread=npy_values("numpy_named.npz", "proba"),
    )

    m = f["iris_int"]
    np.savez(path("numpy_unnamed.npz"), m.proba, m.y.to_numpy())
    loss_case(
        "numpy_npz_unnamed",
        f"{W} np.savez(f, proba, y): arrays arr_0, arr_1",
        "numpy",
        "multiclass int",
        ["score", "numpy_unnamed.npz"],
        m,
        ["0", "1", "2"],
        reread=npy_values("numpy_unnamed.npz", "arr_0"),
    )

    m = f["cancer"]
    np.savez(path("numpy_unnamed_binary.npz"), m.p1, m.y.to_numpy())
    loss_case(
        "numpy_npz_unnamed_binary",
        f"{W} np.savez(f, proba[:, 1], y): arrays arr_0, arr_1",
        "numpy",
        "binary 0/1",
        ["score", "numpy_unnamed_binary.npz"],
        m,
        ["0", "1"],
        proba=m.p1,
        reread=npy_values("numpy_unnamed_binary.npz", "arr_0"),
    )

    m = f["wine_uci"]
    np.savez_compressed(path("numpy_compressed.npz"), y=m.y.to_numpy(), y_pred=m.proba)
    loss_case(
        "numpy_npz_compressed_uci",
        f"{W} np.savez_compressed(f, y=..., y_pred=...): labels 1,2,3 with --classes 1,2,3",
        "numpy",
        "multiclass int",
        ["score", "numpy_compressed.npz", "--classes", "1,2,3"],
        m,
        ["1", "2", "3"],
        reread=npy_values("numpy_compressed.npz", "y_pred"),
    )

    # np.savetxt: no header line by default.
    m = f["iris_int"]
    np.savetxt(path("numpy_savetxt_proba.csv"), m.proba, delimiter=",")
    np.savetxt(path("numpy_savetxt_y.csv"), m.y.to_numpy(), fmt="%d")
    loss_case(
        "numpy_savetxt_both_no_header",
        f"{W} np.savetxt(proba, delimiter=','), "
        "np.savetxt(y, fmt='%d'), with --no-header --labels-no-header",
        "two files by position",
        "multiclass int",
        [
            "score",
            "numpy_savetxt_proba.csv",
            "--labels",
            "numpy_savetxt_y.csv",
            "--no-header",
            "--labels-no-header",
        ],
        m,
        ["0", "1", "2"],
        reread=csv_values(
            "numpy_savetxt_proba.csv", ["0", "1", "2"], header=None, names=["0", "1", "2"]
        ),
    )
    error_case(
        "numpy_savetxt_labels_without_option",
        f"{W} np.savetxt(y, fmt='%d') labels without --labels-no-header (one row fewer)",
        "two files by position",
        "multiclass int",
        ["score", "pandas_proba_header012.csv", "--labels", "numpy_savetxt_y.csv"],
        4,
        ["--labels-no-header"],
    )
    loss_case(
        "numpy_savetxt_labels_no_header",
        f"{W} np.savetxt(y, fmt='%d') labels with "
        "--labels-no-header; predictions from pandas to_csv(index=False)",
        "two files by position",
        "multiclass int",
        [
            "score",
            "pandas_proba_header012.csv",
            "--labels",
            "numpy_savetxt_y.csv",
            "--labels-no-header",
        ],
        m,
        ["0", "1", "2"],
        reread=csv_values("pandas_proba_header012.csv", ["0", "1", "2"]),
    )
    error_case(
        "numpy_savetxt_proba_without_no_header",
        f"{W} np.savetxt(proba) read without --no-header (one row fewer than the labels)",
        "two files by position",
        "multiclass int",
        [
            "score",
            "numpy_savetxt_proba.csv",
            "--labels",
            "numpy_savetxt_y.csv",
            "--labels-no-header",
        ],
        4,
        [],
    )

    m = f["synth3"]
    np.savetxt(
        path("numpy_savetxt_header.csv"),
        m.proba,
        delimiter=",",
        header=",".join(f"p_{c}" for c in m.classes),
        comments="",
    )
    np.savetxt(path("numpy_savetxt_y_str.csv"), m.y.to_numpy(), fmt="%s")
    loss_case(
        "numpy_savetxt_header_str_labels",
        f"{W} np.savetxt(proba, header=..., comments='') + "
        "np.savetxt(y, fmt='%s') with --labels-no-header",
        "two files by position",
        "multiclass string",
        [
            "score",
            "numpy_savetxt_header.csv",
            "--labels",
            "numpy_savetxt_y_str.csv",
            "--labels-no-header",
        ],
        m,
        m.classes,
        reread=csv_values("numpy_savetxt_header.csv", [f"p_{c}" for c in m.classes]),
    )


# --- scikit-learn outputs -------------------------------------------------------------


def sklearn_cases(f: dict[str, Fit]) -> None:
    W = "scikit-learn"

    m = f["cancer"]
    pd.DataFrame({"target": m.y.to_numpy(), "logit": m.decision}).to_csv(
        path("sklearn_decision_binary.csv"), index=False
    )
    for inputs in ("logits", "auto"):
        loss_case(
            f"sklearn_decision_binary_{inputs}",
            f"{W} decision_function (binary) via pandas to_csv(index=False)",
            "one table",
            "binary 0/1",
            ["score", "sklearn_decision_binary.csv", "--inputs", inputs],
            m,
            ["0", "1"],
            proba=m.p1,
            inputs="logits",
            reread=squeeze(csv_values("sklearn_decision_binary.csv", ["logit"])),
        )

    m = f["iris_str"]
    pd.DataFrame(m.decision, columns=m.clf.classes_).assign(label=m.y.to_numpy()).to_csv(
        path("sklearn_decision_multiclass.csv"), index=False
    )
    for inputs in ("logits", "auto"):
        loss_case(
            f"sklearn_decision_multiclass_{inputs}",
            f"{W} decision_function (multiclass) via pandas to_csv(index=False)",
            "one table",
            "multiclass string",
            ["score", "sklearn_decision_multiclass.csv", "--inputs", inputs],
            m,
            m.classes,
            inputs="logits",
            reread=csv_values("sklearn_decision_multiclass.csv", list(m.classes)),
        )

    m = f["cancer_gnb"]
    pd.DataFrame(m.proba, columns=m.clf.classes_).assign(label=m.y.to_numpy()).to_csv(
        path("sklearn_gnb.csv")
    )
    loss_case(
        "sklearn_gnb_bool_columns",
        f"{W} GaussianNB predict_proba, columns=clf.classes_ "
        "(False, True), pandas to_csv() default index",
        "one table",
        "binary bool",
        ["score", "sklearn_gnb.csv"],
        m,
        ["False", "True"],
        index_column="",
        reread=csv_values("sklearn_gnb.csv", ["False", "True"]),
    )

    m = f["iris_rf"]
    pd.DataFrame(m.proba, columns=m.clf.classes_).assign(label=m.y.to_numpy()).to_csv(
        path("sklearn_rf.csv"), index=False
    )
    loss_case(
        "sklearn_random_forest",
        f"{W} RandomForestClassifier predict_proba (exact zeros), pandas to_csv(index=False)",
        "one table",
        "multiclass string",
        ["score", "sklearn_rf.csv"],
        m,
        m.classes,
        reread=csv_values("sklearn_rf.csv", list(m.classes)),
    )


# --- R ----------------------------------------------------------------------------------


def r_cases(f: dict[str, Fit]) -> None:
    W = "R 4.2"
    iris, binary, ints, wine = f["iris_str"], f["synth_bool"], f["iris_int"], f["wine_str"]
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: keeping the committed r_* files", file=sys.stderr)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            iris.frame().assign(Species=iris.y, rowname=iris.X.index + 1)[
                ["rowname", "Species", *iris.classes]
            ].to_csv(src / "iris.csv", index=False)
            pd.DataFrame({"truth": binary.y.to_numpy(), "p": binary.p1}).to_csv(
                src / "bool.csv", index=False
            )
            names = ["setosa", "versicolor", "virginica"]
            pd.DataFrame(
                {
                    "y": ints.y.to_numpy(),
                    **{f"p_{n}": ints.proba[:, i] for i, n in enumerate(names)},
                }
            ).to_csv(src / "iris_int.csv", index=False)
            pd.DataFrame(wine.proba, columns=wine.classes).to_csv(src / "wine_p.csv", index=False)
            pd.DataFrame({"label": wine.y.to_numpy()}).to_csv(src / "wine_y.csv", index=False)
            subprocess.run(
                [rscript, "--vanilla", str(HERE / "make_r.R"), str(src), str(HERE)], check=True
            )

    loss_case(
        "r_write_csv_factor",
        f"{W} write.csv(df): row names under '\"\"', factor Species",
        "one table",
        "multiclass string",
        ["score", "r_write_csv.csv", "--label-col", "Species"],
        iris,
        iris.classes,
        index_column="",
        reread=csv_values("r_write_csv.csv", list(iris.classes)),
    )
    loss_case(
        "r_write_table_tsv_factor",
        f"{W} write.table(df, sep='\\t'): row names, header one field short; factor labels",
        "one table",
        "multiclass string",
        ["score", "r_write_table_factor.tsv"],
        iris,
        iris.classes,
        index_column=OMIT,
        reread=csv_values("r_write_table_factor.tsv", list(iris.classes), sep="\t"),
    )
    loss_case(
        "r_write_csv_logical",
        f"{W} write.csv(df): row names; logical TRUE/FALSE labels",
        "one table",
        "binary bool",
        ["score", "r_write_csv_logical.csv"],
        binary,
        ["FALSE", "TRUE"],
        index_column="",
        proba=binary.p1,
        reread=squeeze(csv_values("r_write_csv_logical.csv", ["p"])),
    )
    loss_case(
        "r_write_csv_logical_no_rownames",
        f"{W} write.csv(df, row.names=FALSE); logical labels",
        "one table",
        "binary bool",
        ["score", "r_write_csv_norownames.csv"],
        binary,
        ["FALSE", "TRUE"],
        proba=binary.p1,
        reread=squeeze(csv_values("r_write_csv_norownames.csv", ["p"])),
    )
    loss_case(
        "r_write_table_tsv_logical",
        f"{W} write.table(df, sep='\\t'): row names, header one field short; logical labels",
        "one table",
        "binary bool",
        ["score", "r_write_table.tsv"],
        binary,
        ["FALSE", "TRUE"],
        index_column=OMIT,
        proba=binary.p1,
        reread=squeeze(csv_values("r_write_table.tsv", ["p"], sep="\t")),
    )
    loss_case(
        "r_write_csv_int_labels",
        f"{W} write.csv(df, row.names=FALSE); integer labels 0..2 "
        "in column y, columns p_setosa, ...",
        "one table",
        "multiclass int",
        ["score", "r_write_csv_int.csv"],
        ints,
        ["setosa", "versicolor", "virginica"],
        reread=csv_values("r_write_csv_int.csv", ["p_setosa", "p_versicolor", "p_virginica"]),
    )
    loss_case(
        "r_two_files_wine",
        f"{W} write.csv twice (row names); wine class_0..2, factor labels",
        "two files by position",
        "multiclass string",
        ["score", "r_wine_preds.csv", "--labels", "r_wine_labels.csv"],
        wine,
        wine.classes,
        index_column="",
        reread=csv_values("r_wine_preds.csv", list(wine.classes)),
    )


# --- checks and manifest ----------------------------------------------------------------


def _probs(values: np.ndarray, inputs: str) -> np.ndarray:
    if inputs == "probs":
        return values
    if values.ndim == 1:
        return np.asarray(1.0 / (1.0 + np.exp(-values)))
    shifted = values - values.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def self_check() -> list[str]:
    """Problems: a file whose values do not give the expected loss, or that is too big."""
    problems = []
    for case in CASES:
        name = case["name"]
        if name not in CHECKS:
            continue
        y, reread, labels, inputs = CHECKS[name]
        got = float(log_loss(y, _probs(reread(), inputs), labels=labels))
        want = case["expect"]["loss"]
        if abs(got - want) > REL * abs(want):
            problems.append(f"{name}: the file's values give {got!r}, memory {want!r}")
        if len(y) > MAX_ROWS:
            problems.append(f"{name}: {len(y)} rows")
    used = {a for case in CASES for a in case["args"] if path(a).is_file()}
    for file in sorted(HERE.iterdir()):
        if file.name in NOT_INPUTS or file.name.startswith(".") or not file.is_file():
            continue
        if file.stat().st_size > MAX_BYTES:
            problems.append(f"{file.name}: {file.stat().st_size} bytes")
        if file.name not in used:
            problems.append(f"{file.name}: used by no case")
    return problems


def main() -> int:
    fits = build_fits()
    pandas_cases(fits)
    polars_cases(fits)
    pyarrow_cases(fits)
    numpy_cases(fits)
    sklearn_cases(fits)
    r_cases(fits)
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    (HERE / "cases.json").write_text(json.dumps(CASES, indent=2) + "\n", encoding="utf-8")
    problems = self_check()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(CASES)} cases written to {HERE / 'cases.json'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
