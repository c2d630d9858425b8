"""Deterministic benchmark data for ``bench_shapes.py``, written as pandas and NumPy write it.

Every CSV holds full-precision floats exactly as ``DataFrame.to_csv`` writes them
(Python's shortest round-trip repr, up to 17 significant digits). The text is built
here without pandas because that is about twice as fast, but the first chunk of
every CSV is also written with ``DataFrame.to_csv`` and the two must be identical,
byte for byte, or generation stops. (pyarrow's CSV writer is not used: it writes
``0.000012345`` where pandas writes ``1.2345e-05``, and ``e-7`` for ``e-07``.)
Parquet files are written by ``DataFrame.to_parquet`` with its defaults, NPY files
in chunks through ``np.lib.format.open_memmap``.

Because the repr round-trips, the doubles a reader parses are exactly the doubles
generated, so the reference losses stored in each data set's ``.meta.json`` (float64,
probabilities clipped to [eps, 1-eps] as scikit-learn does) are the losses of the
file's contents.

Every array depends only on the seed, the data set's parameters and the chunk
index, so files are reproducible; a data set is rebuilt only when its parameters,
the seed or ``GENERATOR_VERSION`` change.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR_VERSION = 1
EPS = float(np.finfo(np.float64).eps)
#: Cells (rows x columns) per CSV chunk: bounds the generator's memory on wide files.
CHUNK_CELLS = 1 << 20
LOGIT_SD = 2.0
#: Added to the true class's logit, so that the "model" beats chance.
TRUE_CLASS_BOOST = 4.0
#: The same for the language-model logits (32,000 classes).
LM_BOOST = 8.0
IGNORE_LABEL = -100

# Random streams: each array has its own, so that e.g. the labels are the same in
# the base and the candidate file of `xent compare`.
S_LABELS, S_LOGITS_A, S_LOGITS_B, S_IDS, S_SHUFFLE, S_LANG = 1, 2, 3, 4, 5, 6
S_BINARY, S_GROUPS, S_LM, S_ND, S_TOKENS = 7, 8, 9, 10, 11


# --- sizes and data sets --------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """The sizes of every case; ``QUICK`` is a smoke-test scale."""

    rows: int = 1_000_000  # cases 1, 6, 7, 8, 9, 10, 13a
    classes: int = 10
    binary_rows: int = 10_000_000  # case 2
    wide_rows: int = 100_000  # case 3
    wide_classes: int = 1_000
    npy_rows: int = 20_000  # case 4
    vocab: int = 32_000
    nd_batch: int = 64  # case 5
    nd_seq: int = 512
    token_rows: int = 10_000_000  # case 12
    doc_tokens: int = 1_000  # mean tokens per document
    langs: int = 1_000  # case 13a
    group_rows: int = 10_000_000  # case 13b
    groups: int = 1_000_000
    scale: int = 5  # case 11


FULL = Sizes()
QUICK = Sizes(
    rows=100_000,
    binary_rows=1_000_000,
    wide_rows=10_000,
    npy_rows=1_000,
    nd_batch=4,
    token_rows=1_000_000,
    group_rows=1_000_000,
    groups=100_000,
)


@dataclass(frozen=True)
class Dataset:
    """A set of files made by one generator call."""

    kind: str
    params: tuple[tuple[str, int], ...]
    files: dict[str, str] = field(hash=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.kind}_" + "x".join(str(v) for _, v in self.params)

    def path(self, directory: Path, role: str) -> Path:
        return directory / self.files[role]

    def paths(self, directory: Path) -> list[Path]:
        return [directory / f for f in self.files.values()]


def mc(rows: int, classes: int) -> Dataset:
    """``id,label,p_0..`` (cases 1, 3, 8, 9, 10; 11 at 5x)."""
    return Dataset(
        "mc", (("rows", rows), ("classes", classes)), {"csv": f"mc_{rows}x{classes}.csv"}
    )


def mc_b(rows: int, classes: int) -> Dataset:
    """The candidate of `xent compare`: same ids and labels as ``mc``, other probabilities."""
    return Dataset(
        "mc_b", (("rows", rows), ("classes", classes)), {"csv": f"mc_{rows}x{classes}_b.csv"}
    )


def mc_parquet(rows: int, classes: int) -> Dataset:
    """``mc``'s contents written by ``DataFrame.to_parquet`` (case 6)."""
    return Dataset(
        "mc_parquet",
        (("rows", rows), ("classes", classes)),
        {"parquet": f"mc_{rows}x{classes}.parquet"},
    )


def join(rows: int, classes: int) -> Dataset:
    """``id,p_..`` predictions and a shuffled ``id,label`` file (case 7)."""
    stem = f"join_{rows}x{classes}"
    return Dataset(
        "join",
        (("rows", rows), ("classes", classes)),
        {"preds": f"{stem}_preds.csv", "labels": f"{stem}_labels.csv"},
    )


def lang(rows: int, classes: int, langs: int) -> Dataset:
    """``mc`` plus a ``lang`` column of ``langs`` values (case 13a)."""
    return Dataset(
        "lang",
        (("rows", rows), ("classes", classes), ("langs", langs)),
        {"csv": f"lang_{rows}x{classes}_{langs}.csv"},
    )


def binary(rows: int) -> Dataset:
    """``label,p`` (case 2)."""
    return Dataset("binary", (("rows", rows),), {"csv": f"binary_{rows}.csv"})


def groups(rows: int, n_groups: int) -> Dataset:
    """``user,label,p``: binary, ``n_groups`` users with rows/n_groups rows each (case 13b)."""
    return Dataset(
        "groups", (("rows", rows), ("groups", n_groups)), {"csv": f"groups_{rows}_{n_groups}.csv"}
    )


def lm(rows: int, vocab: int) -> Dataset:
    """float32 and float16 logits (rows, vocab) and int64 labels (case 4)."""
    stem = f"{rows}x{vocab}"
    return Dataset(
        "lm",
        (("rows", rows), ("vocab", vocab)),
        {
            "f32": f"logits_{stem}_f32.npy",
            "f16": f"logits_{stem}_f16.npy",
            "labels": f"labels_{stem}.npy",
        },
    )


def nd(batch: int, seq: int, vocab: int) -> Dataset:
    """float16 logits (batch, seq, vocab), labels (batch, seq) with -100 padding (case 5)."""
    stem = f"{batch}x{seq}x{vocab}"
    return Dataset(
        "nd",
        (("batch", batch), ("seq", seq), ("vocab", vocab)),
        {"logits": f"nd_{stem}_f16.npy", "labels": f"nd_{stem}_labels.npy"},
    )


def tokens(rows: int, doc_tokens: int) -> Dataset:
    """``doc,logprob`` token rows, documents contiguous (case 12)."""
    return Dataset(
        "tokens",
        (("rows", rows), ("doc_tokens", doc_tokens)),
        {"parquet": f"tokens_{rows}_{doc_tokens}.parquet"},
    )


# --- random arrays ---------------------------------------------------------------


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def chunk_rows(width: int) -> int:
    """Rows per CSV chunk for ``width`` columns: a power of two, at most 65,536."""
    return int(min(65_536, 2 ** max(8, int(math.log2(max(1, CHUNK_CELLS // width))))))


def _chunks(rows: int, width: int) -> Iterator[tuple[int, int, int]]:
    step = chunk_rows(width)
    for index, start in enumerate(range(0, rows, step)):
        yield index, start, min(start + step, rows)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def mc_labels(seed: int, classes: int, index: int, n: int) -> np.ndarray:
    return _rng(seed, S_LABELS, classes, index).integers(0, classes, n, dtype=np.int64)


def mc_probs(seed: int, classes: int, index: int, labels: np.ndarray, variant: int) -> np.ndarray:
    n = len(labels)
    logits = _rng(seed, variant, classes, index).normal(0.0, LOGIT_SD, (n, classes))
    logits[np.arange(n), labels] += TRUE_CLASS_BOOST
    return softmax(logits)


def string_ids(prefix: str, numbers: np.ndarray, total: int) -> list[str]:
    width = max(6, len(str(total - 1)))
    return [f"{prefix}{i:0{width}d}" for i in numbers.tolist()]


def id_permutation(seed: int, rows: int) -> np.ndarray:
    return _rng(seed, S_IDS, rows).permutation(rows)


def true_class_losses(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-ln p[true], p clipped to [eps, 1-eps] as scikit-learn's log_loss does."""
    true_p = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_p, EPS, 1.0 - EPS))


def binary_losses(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1.0 - EPS)
    return -(y * np.log(q) + (1 - y) * np.log1p(-q))


def binary_chunk(seed: int, stream: int, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed, stream, index)
    y = rng.integers(0, 2, n, dtype=np.int64)
    z = rng.normal(0.0, LOGIT_SD, n) + 1.5 * (2 * y - 1)
    return y, 1.0 / (1.0 + np.exp(-z))


# --- CSV writing -----------------------------------------------------------------


Column = np.ndarray | list[str]


def _cells(column: Column) -> list[str]:
    if isinstance(column, list):
        return column
    return list(map(repr, column.tolist()))  # str(int) == repr(int); floats: shortest repr


def csv_text(columns: Sequence[Column]) -> str:
    """CSV lines of these columns, each value as ``DataFrame.to_csv`` writes it."""
    return "".join(",".join(row) + "\n" for row in zip(*map(_cells, columns), strict=True))


def _pandas_text(names: Sequence[str], columns: Sequence[Column]) -> str:
    import pandas as pd

    frame = pd.DataFrame(dict(zip(names, columns, strict=True)))
    return str(frame.to_csv(index=False, header=False, lineterminator="\n"))


class CsvFile:
    """Writes a CSV chunk by chunk; checks the first chunk against ``DataFrame.to_csv``."""

    def __init__(self, path: Path, names: Sequence[str]) -> None:
        self.names = list(names)
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.handle.write(",".join(self.names) + "\n")
        self.checked = False

    def write(self, columns: Sequence[Column]) -> None:
        text = csv_text(columns)
        if not self.checked:
            expected = _pandas_text(self.names, columns)
            if text != expected:
                mine, theirs = text.splitlines(), expected.splitlines()
                bad = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b)
                raise RuntimeError(
                    f"{self.handle.name}: CSV text differs from DataFrame.to_csv at line "
                    f"{bad + 2}: {mine[bad]!r} != {theirs[bad]!r}"
                )
            self.checked = True
        self.handle.write(text)

    def close(self) -> None:
        self.handle.close()


def _prob_names(classes: int) -> list[str]:
    return [f"p_{j}" for j in range(classes)]


# --- generators: each writes its files (at the given paths) and returns references --


def gen_mc(paths: dict[str, Path], seed: int, rows: int, classes: int) -> dict[str, Any]:
    return _gen_mc(paths["csv"], seed, rows, classes, S_LOGITS_A)


def gen_mc_b(paths: dict[str, Path], seed: int, rows: int, classes: int) -> dict[str, Any]:
    return _gen_mc(paths["csv"], seed, rows, classes, S_LOGITS_B)


def _gen_mc(path: Path, seed: int, rows: int, classes: int, variant: int) -> dict[str, Any]:
    perm = id_permutation(seed, rows)
    out = CsvFile(path, ["id", "label", *_prob_names(classes)])
    total, last, max_dev = 0.0, math.nan, 0.0
    try:
        for index, start, stop in _chunks(rows, classes + 2):
            labels = mc_labels(seed, classes, index, stop - start)
            probs = mc_probs(seed, classes, index, labels, variant)
            out.write([string_ids("s", perm[start:stop], rows), labels, *probs.T])
            losses = true_class_losses(probs, labels)
            total += float(losses.sum())
            last = float(losses[-1])
            max_dev = max(max_dev, float(np.abs(probs.sum(axis=1) - 1.0).max()))
    finally:
        out.close()
    return {"loss": total / rows, "last_row_loss": last, "max_row_sum_error": max_dev}


def mc_frame_columns(seed: int, rows: int, classes: int) -> dict[str, Any]:
    """``mc``'s columns as whole arrays (for Parquet and the join files)."""
    perm = id_permutation(seed, rows)
    labels, probs = [], []
    for index, start, stop in _chunks(rows, classes + 2):
        chunk_labels = mc_labels(seed, classes, index, stop - start)
        labels.append(chunk_labels)
        probs.append(mc_probs(seed, classes, index, chunk_labels, S_LOGITS_A))
    all_probs = np.concatenate(probs)
    columns: dict[str, Any] = {
        "id": string_ids("s", perm, rows),
        "label": np.concatenate(labels),
    }
    columns.update({f"p_{j}": all_probs[:, j].copy() for j in range(classes)})
    return columns


def gen_mc_parquet(paths: dict[str, Path], seed: int, rows: int, classes: int) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    columns = mc_frame_columns(seed, rows, classes)
    frame = pd.DataFrame(columns)
    frame.to_parquet(paths["parquet"])
    probs = np.column_stack([columns[f"p_{j}"] for j in range(classes)])
    loss = float(true_class_losses(probs, columns["label"]).mean())
    groups = pq.ParquetFile(paths["parquet"]).metadata.num_row_groups
    return {"loss": loss, "row_groups": groups}


def gen_join(paths: dict[str, Path], seed: int, rows: int, classes: int) -> dict[str, Any]:
    perm = id_permutation(seed, rows)
    labels_all = []
    out = CsvFile(paths["preds"], ["id", *_prob_names(classes)])
    total = 0.0
    try:
        for index, start, stop in _chunks(rows, classes + 2):
            labels = mc_labels(seed, classes, index, stop - start)
            probs = mc_probs(seed, classes, index, labels, S_LOGITS_A)
            out.write([string_ids("s", perm[start:stop], rows), *probs.T])
            labels_all.append(labels)
            total += float(true_class_losses(probs, labels).sum())
    finally:
        out.close()
    labels = np.concatenate(labels_all)
    shuffle = _rng(seed, S_SHUFFLE, rows).permutation(rows)
    out = CsvFile(paths["labels"], ["id", "label"])
    try:
        for _, start, stop in _chunks(rows, 2):
            rows_here = shuffle[start:stop]
            out.write([string_ids("s", perm[rows_here], rows), labels[rows_here]])
    finally:
        out.close()
    return {"loss": total / rows}


def gen_lang(
    paths: dict[str, Path], seed: int, rows: int, classes: int, langs: int
) -> dict[str, Any]:
    perm = id_permutation(seed, rows)
    codes = _rng(seed, S_LANG, rows).integers(0, langs, rows)
    names = np.array([f"l{j:04d}" for j in range(langs)])
    out = CsvFile(paths["csv"], ["id", "label", "lang", *_prob_names(classes)])
    total = 0.0
    group_sum = np.zeros(langs)
    try:
        for index, start, stop in _chunks(rows, classes + 3):
            labels = mc_labels(seed, classes, index, stop - start)
            probs = mc_probs(seed, classes, index, labels, S_LOGITS_A)
            here = codes[start:stop]
            out.write(
                [
                    string_ids("s", perm[start:stop], rows),
                    labels,
                    names[here].tolist(),
                    *probs.T,
                ]
            )
            losses = true_class_losses(probs, labels)
            total += float(losses.sum())
            group_sum += np.bincount(here, weights=losses, minlength=langs)
    finally:
        out.close()
    counts = np.bincount(codes, minlength=langs)
    return {
        "loss": total / rows,
        "groups": int((counts > 0).sum()),
        "first_group_loss": float(group_sum[0] / counts[0]) if counts[0] else None,
    }


def gen_binary(paths: dict[str, Path], seed: int, rows: int) -> dict[str, Any]:
    out = CsvFile(paths["csv"], ["label", "p"])
    total = 0.0
    try:
        for index, start, stop in _chunks(rows, 4):
            y, p = binary_chunk(seed, S_BINARY, index, stop - start)
            out.write([y, p])
            total += float(binary_losses(p, y).sum())
    finally:
        out.close()
    return {"loss": total / rows}


def gen_groups(paths: dict[str, Path], seed: int, rows: int, groups: int) -> dict[str, Any]:
    users = _rng(seed, S_GROUPS, rows, groups).permutation(np.arange(rows) % groups)
    out = CsvFile(paths["csv"], ["user", "label", "p"])
    total = 0.0
    try:
        for index, start, stop in _chunks(rows, 4):
            y, p = binary_chunk(seed, S_GROUPS, index, stop - start)
            out.write([string_ids("u", users[start:stop], groups), y, p])
            total += float(binary_losses(p, y).sum())
    finally:
        out.close()
    return {"loss": total / rows, "groups": groups}


def _log_softmax_loss(logits: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """Sum of -log softmax(logits)[label] in float64 over rows whose label is not ignored."""
    keep = labels != IGNORE_LABEL
    x = logits[keep].astype(np.float64)
    y = labels[keep]
    top = x.max(axis=1)
    lse = top + np.log(np.exp(x - top[:, None]).sum(axis=1))
    return float((lse - x[np.arange(len(y)), y]).sum()), int(keep.sum())


def gen_lm(paths: dict[str, Path], seed: int, rows: int, vocab: int) -> dict[str, Any]:
    open_memmap = np.lib.format.open_memmap
    f32 = open_memmap(paths["f32"], "w+", np.float32, (rows, vocab))
    f16 = open_memmap(paths["f16"], "w+", np.float16, (rows, vocab))
    labels_out = open_memmap(paths["labels"], "w+", np.int64, (rows,))
    sums = {"f32": 0.0, "f16": 0.0}
    step = 256
    for index, start in enumerate(range(0, rows, step)):
        stop = min(start + step, rows)
        rng = _rng(seed, S_LM, vocab, index)
        labels = rng.integers(0, vocab, stop - start, dtype=np.int64)
        logits = rng.standard_normal((stop - start, vocab), dtype=np.float32)
        logits *= np.float32(LOGIT_SD)
        logits[np.arange(stop - start), labels] += np.float32(LM_BOOST)
        half = logits.astype(np.float16)
        f32[start:stop] = logits
        f16[start:stop] = half
        labels_out[start:stop] = labels
        sums["f32"] += _log_softmax_loss(logits, labels)[0]
        sums["f16"] += _log_softmax_loss(half, labels)[0]
    for array in (f32, f16, labels_out):
        array.flush()
    del f32, f16, labels_out
    return {"loss_f32": sums["f32"] / rows, "loss_f16": sums["f16"] / rows}


def gen_nd(paths: dict[str, Path], seed: int, batch: int, seq: int, vocab: int) -> dict[str, Any]:
    open_memmap = np.lib.format.open_memmap
    logits_out = open_memmap(paths["logits"], "w+", np.float16, (batch, seq, vocab))
    labels_out = open_memmap(paths["labels"], "w+", np.int64, (batch, seq))
    total, count = 0.0, 0
    for b in range(batch):
        rng = _rng(seed, S_ND, vocab, b)
        length = int(rng.integers(seq // 4, seq + 1))
        labels = rng.integers(0, vocab, seq, dtype=np.int64)
        labels[length:] = IGNORE_LABEL
        logits = rng.standard_normal((seq, vocab), dtype=np.float32)
        logits *= np.float32(LOGIT_SD)
        logits[np.arange(length), labels[:length]] += np.float32(LM_BOOST)
        half = logits.astype(np.float16)
        logits_out[b] = half
        labels_out[b] = labels
        s, c = _log_softmax_loss(half, labels)
        total += s
        count += c
    logits_out.flush()
    labels_out.flush()
    del logits_out, labels_out
    return {"loss": total / count, "tokens": count, "ignored": batch * seq - count}


def gen_tokens(paths: dict[str, Path], seed: int, rows: int, doc_tokens: int) -> dict[str, Any]:
    import pandas as pd

    rng = _rng(seed, S_TOKENS, rows)
    lengths = rng.integers(1, 2 * doc_tokens, rows // doc_tokens * 2 + 16)
    ends = np.cumsum(lengths)
    n_docs = int(np.searchsorted(ends, rows) + 1)
    lengths = lengths[:n_docs].copy()
    lengths[-1] -= int(ends[n_docs - 1] - rows)
    names = np.array(string_ids("d", np.arange(n_docs), n_docs))
    logprob = (-rng.exponential(2.5, rows)).astype(np.float32)
    frame = pd.DataFrame({"doc": np.repeat(names, lengths), "logprob": logprob})
    frame.to_parquet(paths["parquet"])
    return {"loss": float(-logprob.astype(np.float64).mean()), "docs": n_docs}


GENERATORS: dict[str, Callable[..., dict[str, Any]]] = {
    "mc": gen_mc,
    "mc_b": gen_mc_b,
    "mc_parquet": gen_mc_parquet,
    "join": gen_join,
    "lang": gen_lang,
    "binary": gen_binary,
    "groups": gen_groups,
    "lm": gen_lm,
    "nd": gen_nd,
    "tokens": gen_tokens,
}


# --- driver ----------------------------------------------------------------------


def _meta_path(directory: Path, dataset: Dataset) -> Path:
    return directory / f"{dataset.name}.meta.json"


def _wanted(dataset: Dataset, seed: int) -> dict[str, Any]:
    return {
        "generator": GENERATOR_VERSION,
        "kind": dataset.kind,
        "seed": seed,
        "params": dict(dataset.params),
    }


def load_meta(directory: Path, dataset: Dataset, seed: int) -> dict[str, Any] | None:
    """The stored meta of a data set if its files exist and match the parameters."""
    meta_path = _meta_path(directory, dataset)
    if not meta_path.exists() or not all(p.exists() for p in dataset.paths(directory)):
        return None
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    wanted = _wanted(dataset, seed)
    return meta if all(meta.get(k) == v for k, v in wanted.items()) else None


def build(directory: str, dataset: Dataset, seed: int) -> dict[str, Any]:
    """Generate one data set into ``.partial`` files, then move them into place."""
    root = Path(directory)
    final = {role: root / name for role, name in dataset.files.items()}
    partial = {role: path.with_name(path.name + ".partial") for role, path in final.items()}
    _meta_path(root, dataset).unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        refs = GENERATORS[dataset.kind](partial, seed, **dict(dataset.params))
    except BaseException:
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    for role, path in partial.items():
        os.replace(path, final[role])
    meta = {
        **_wanted(dataset, seed),
        "references": refs,
        "files": {role: path.name for role, path in final.items()},
        "sizes_bytes": {path.name: path.stat().st_size for path in final.values()},
        "seconds": time.perf_counter() - started,
    }
    _meta_path(root, dataset).write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def ensure(
    datasets: Sequence[Dataset],
    directory: Path,
    seed: int,
    *,
    force: bool = False,
    jobs: int = 2,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Meta of every data set, generating (in ``jobs`` processes) those missing or stale."""
    directory.mkdir(parents=True, exist_ok=True)
    metas: dict[str, dict[str, Any]] = {}
    todo = []
    for dataset in dict.fromkeys(datasets):  # unique, in order
        meta = None if force else load_meta(directory, dataset, seed)
        if meta is None:
            todo.append(dataset)
        else:
            metas[dataset.name] = {**meta, "generated_now": False}
    if todo:
        # The biggest first, so the pool's last task is a small one.
        todo.sort(key=lambda d: -math.prod(v for _, v in d.params))
        log(
            f"generating {len(todo)} data set(s) in {jobs} process(es): "
            + ", ".join(d.name for d in todo)
        )
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {d.name: pool.submit(build, str(directory), d, seed) for d in todo}
            for name, future in futures.items():
                meta = future.result()
                log(f"  {name}: {meta['seconds']:.1f} s, " + _sizes(meta))
                metas[name] = {**meta, "generated_now": True}
    return metas


def _sizes(meta: dict[str, Any]) -> str:
    return ", ".join(f"{name} {size / 1e6:,.1f} MB" for name, size in meta["sizes_bytes"].items())


def describe(metas: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{name}: {_sizes(meta)}" for name, meta in metas.items()]


if __name__ == "__main__":  # a quick self-check of the CSV writer
    buffer = io.StringIO()
    rng = np.random.default_rng(0)
    sample = [np.array([1e-5, 0.1, 1 / 3, 2.5e-7]), rng.integers(0, 3, 4)]
    assert csv_text(sample) == _pandas_text(["a", "b"], sample)
    print("csv_text matches DataFrame.to_csv")
