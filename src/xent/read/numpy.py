"""NumPy ``.npy`` and ``.npz`` files, and arrays in memory: read in blocks of rows.

Arrays are never unpickled: an object array is refused before any of it is
read. Files are read block by block (never memory-mapped whole: a map keeps
every page it touched resident), and ``.npz`` members are decompressed as a
stream, so a small archive that inflates to gigabytes costs one block of
memory at a time. A predictions array of shape (N,) is one column ``p``; of
shape (N, K) K columns named by ``--classes`` (or ``0..K-1``). Labels of shape
(N,) are the column ``label``; of shape (N, K) the columns ``label:<class>``.
The decode stage reads the arrays directly (:attr:`Source.arrays`); the Arrow
batches of :meth:`Source.batches` exist for every other use.
"""

from __future__ import annotations

import copy
import math
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from xent import limits
from xent.errors import DataError, InputError, UsageError
from xent.read import ReadRequest, Source, describe_row, first_line

#: Array names looked up in an ``.npz`` archive, in order of preference.
NPZ_LABEL_NAMES = ("y_true", "labels", "y", "target")
NPZ_PRED_NAMES = ("y_pred", "proba", "probs", "predictions", "logits")
#: Names ``np.savez`` gives to arrays passed without names: predictions, then labels.
NPZ_UNNAMED = ("arr_0", "arr_1")

#: Name of the label column in tables made from NumPy arrays.
ARRAY_LABEL_COLUMN = "label"
#: Name of the prediction column of a 1-D predictions array.
ARRAY_PREDICTION_COLUMN = "p"

_PICKLE_HINT = (
    "holds Python objects (a pickle), which xent never loads; "
    "save numbers or fixed-width strings instead (np.save(path, arr.astype(str)))"
)


class Rows(Protocol):
    """An array read in blocks of rows along its first axis."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def blocks(self, rows: int) -> Iterator[np.ndarray[Any, Any]]:
        """Consecutive blocks of at most ``rows`` rows, from the first row to the last."""
        ...

    def reshaped(self, shape: tuple[int, ...]) -> Rows:
        """The same values as an array of ``shape`` (C order)."""
        ...


class ChannelsFirst:
    """Predictions of shape (N, K, d1, d2, ...) read as the (N * d1 * d2 ..., K) matrix
    of their positions, a whole item (image) at a time."""

    def __init__(self, rows: Rows) -> None:
        n, k = rows.shape[0], rows.shape[1]
        self.k, self.positions = k, math.prod(rows.shape[2:])
        self.rows = rows.reshaped((n, k, self.positions))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows.shape[0] * self.positions, self.k)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.rows.dtype

    def blocks(self, rows: int) -> Iterator[np.ndarray[Any, Any]]:
        items = max(1, rows // self.positions)
        for block in self.rows.blocks(items):
            yield block.transpose(0, 2, 1).reshape(-1, self.k)

    def reshaped(self, shape: tuple[int, ...]) -> Rows:
        raise NotImplementedError  # never read otherwise than by position


@dataclass(frozen=True)
class ArrayShape:
    """How arrays of any rank are read: every position is a sample.

    ``class_axis`` is 1 (channels first, as torch: (N, K, ...)) or -1
    (channels last: (N, ..., K)), or None when there is no class axis (one
    probability per position). ``positions`` counts the positions of one item
    along the first axis (a sequence, an image): the default groups.
    """

    class_axis: int | None
    positions: int


def array_shape(
    name: str,
    pred: tuple[int, ...],
    label: tuple[int, ...] | None,
    class_axis: int | None = None,
) -> ArrayShape | None:
    """How predictions of shape ``pred`` pair with labels of shape ``label``: None for
    the plain (N,) and (N, K) layouts, else where the class axis is.

    >>> array_shape("p.npy", (64, 512, 32000), (64, 512))
    ArrayShape(class_axis=-1, positions=512)
    >>> array_shape("p.npy", (8, 21, 64, 64), (8, 64, 64))
    ArrayShape(class_axis=1, positions=4096)
    """
    if len(pred) <= 2 and class_axis is None:
        return None
    if len(pred) < 2:
        raise UsageError(f"{name}: --class-axis needs predictions with a class axis, not {pred}")
    if label is not None and label == pred:
        return ArrayShape(None, math.prod(pred[1:]))  # one probability per position
    last = label is not None and label == pred[:-1]
    first = label is not None and label == pred[:1] + pred[2:]
    if class_axis is not None:
        axis = (
            1
            if class_axis in (1, 1 - len(pred))
            else -1
            if class_axis in (-1, len(pred) - 1)
            else 0
        )
        if axis == 0:
            raise UsageError(
                f"--class-axis must be 1 (channels first) or -1 (channels last), not {class_axis}"
            )
        if label is not None and not (first if axis == 1 else last):
            raise InputError(
                f"{name}: with --class-axis {class_axis}, predictions of shape {pred} need "
                f"labels of shape {pred[:1] + pred[2:] if axis == 1 else pred[:-1]}, not {label}"
            )
    elif first and last:
        raise UsageError(
            f"{name}: predictions {pred} and labels {label} fit both a class axis first and "
            "last; pass --class-axis 1 (as torch) or --class-axis -1 (as keras)"
        )
    elif first:
        axis = 1
    elif last or label is None:
        axis = -1
    else:
        raise InputError(
            f"{name}: labels of shape {label} do not fit predictions of shape {pred}: expected "
            f"{pred[:-1]} (classes last) or {pred[:1] + pred[2:]} (classes first)"
        )
    spatial = pred[1:-1] if axis == -1 else pred[2:]
    return ArrayShape(axis, math.prod(spatial))


class MemoryRows:
    """An array already in memory."""

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self.array.dtype
        return dtype

    def blocks(self, rows: int) -> Iterator[np.ndarray[Any, Any]]:
        for start in range(0, len(self.array), rows):
            yield self.array[start : start + rows]

    def reshaped(self, shape: tuple[int, ...]) -> MemoryRows:
        """The same values as an array of ``shape`` (C order)."""
        return MemoryRows(np.ascontiguousarray(self.array).reshape(shape))


class NpyRows:
    """The rows of a ``.npy`` file, read on demand: never the whole array.

    C-order files are read with plain reads; Fortran-order files are
    memory-mapped (their rows are not contiguous on disk).
    """

    def __init__(self, name: str, path: str) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. a header whose shape overflows
                header = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "object" in str(exc).lower():
                raise InputError(f"{name}: {_PICKLE_HINT}") from exc
            raise InputError(f"{name}: not a valid .npy file: {first_line(exc)}") from exc
        except Exception as exc:  # a malformed header fails in many ways inside NumPy
            raise InputError(f"{name}: not a valid .npy file: {first_line(exc)}") from exc
        self.name = name
        self.path = path
        self._shape: tuple[int, ...] = tuple(header.shape)
        self._dtype: np.dtype[Any] = header.dtype
        self._offset = int(getattr(header, "offset", 0))
        contiguous = header.ndim <= 1 or header.flags.c_contiguous
        mapped = isinstance(header, np.memmap)
        self._mapped = None if (contiguous and mapped) else header

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    def blocks(self, rows: int) -> Iterator[np.ndarray[Any, Any]]:
        n = self._shape[0] if self._shape else 0
        if self._mapped is not None:
            for start in range(0, n, rows):
                yield np.array(self._mapped[start : start + rows])
            return
        row_items = int(np.prod(self._shape[1:])) if len(self._shape) > 1 else 1
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            for start in range(0, n, rows):
                count = min(rows, n - start)
                data = np.fromfile(handle, dtype=self._dtype, count=count * row_items)
                if data.size < count * row_items:
                    raise InputError(
                        f"{self.name}: the file ends early: its header promises "
                        f"{n} rows; it was cut short"
                    )
                yield data.reshape((count, *self._shape[1:]))

    def reshaped(self, shape: tuple[int, ...]) -> NpyRows:
        """The same values read as an array of ``shape`` (C order: no data moves)."""
        if self._mapped is not None and self._mapped.ndim > 1:
            raise InputError(
                f"{self.name}: the array is stored in Fortran order; save it with "
                "np.ascontiguousarray(...) so that it can be read block by block"
            )
        view = copy.copy(self)
        view._shape = shape
        return view


class NpzMember:
    """One array of an ``.npz`` archive, decompressed as a stream, block by block."""

    def __init__(self, name: str, path: str, member: str) -> None:
        self.name = name
        self.path = path
        self.member = member
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            shape, fortran, dtype = _npy_header(f"{name}[{member}]", stream)
        if fortran and len(shape) > 1:
            raise InputError(
                f"{name}: array {_array_name(member)!r} is stored in Fortran order; save it "
                "with np.ascontiguousarray(...) so that it can be read row by row"
            )
        self._shape = shape
        self._dtype = dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._dtype

    def blocks(self, rows: int) -> Iterator[np.ndarray[Any, Any]]:
        n = self._shape[0] if self._shape else 0
        row_items = int(np.prod(self._shape[1:])) if len(self._shape) > 1 else 1
        row_bytes = row_items * self._dtype.itemsize
        with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
            _npy_header(self.name, stream)
            for start in range(0, n, rows):
                count = min(rows, n - start)
                data = stream.read(count * row_bytes)
                if len(data) < count * row_bytes:
                    raise InputError(
                        f"{self.name}: array {_array_name(self.member)!r} ends early: its "
                        f"header promises {n} rows; the archive is damaged"
                    )
                yield np.frombuffer(data, dtype=self._dtype).reshape((count, *self._shape[1:]))

    def reshaped(self, shape: tuple[int, ...]) -> NpzMember:
        """The same values read as an array of ``shape`` (C order: no data moves)."""
        view = copy.copy(self)
        view._shape = shape
        return view


def _npy_header(name: str, stream: Any) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from the header of a ``.npy`` stream."""
    from numpy.lib import format as npy

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            version = npy.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = npy.read_array_header_2_0(stream)
    except Exception as exc:  # a malformed header fails in many ways inside NumPy
        raise InputError(f"{name}: not a valid .npy array: {first_line(exc)}") from exc
    if dtype.hasobject:
        raise InputError(f"{name}: {_PICKLE_HINT}")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _array_name(member: str) -> str:
    return member[: -len(".npy")] if member.endswith(".npy") else member


@dataclass(frozen=True)
class ArrayData:
    """The arrays behind a NumPy source, for the decode stage to read directly.

    ``prediction_names`` names the prediction columns (one per column of a 2-D
    array, ``p`` for a 1-D one); ``label_names`` the label column(s).
    ``group_size``, for arrays of any rank, counts the rows (positions) of one
    item along their first axis: items are the default groups.
    """

    predictions: Rows | None
    labels: Rows | None
    weights: np.ndarray[Any, Any] | None
    prediction_names: tuple[str, ...]
    label_names: tuple[str, ...]
    n_rows: int
    group_size: int | None = None

    def row_blocks(
        self, rows: int
    ) -> Iterator[tuple[np.ndarray[Any, Any] | None, np.ndarray[Any, Any] | None]]:
        """Blocks of (predictions, labels) rows, in step (either may be None)."""
        if isinstance(self.predictions, ChannelsFirst):
            # Classes-first arrays are read an item (image) at a time.
            rows = max(1, rows // self.predictions.positions) * self.predictions.positions
        preds = self.predictions.blocks(rows) if self.predictions is not None else None
        labels = self.labels.blocks(rows) if self.labels is not None else None
        try:
            for _ in range(0, self.n_rows, rows):
                block_labels = next(labels) if labels is not None else None
                if (
                    block_labels is not None
                    and block_labels.ndim == 2
                    and block_labels.shape[1] == 1
                ):
                    block_labels = block_labels.reshape(-1)  # a column vector of labels
                yield (next(preds) if preds is not None else None), block_labels
        finally:
            for blocks in (preds, labels):
                if blocks is not None:
                    blocks.close()  # type: ignore[attr-defined]


def open_numpy(name: str, path: str, fmt: str, request: ReadRequest) -> Source:
    """A :class:`Source` over a ``.npy`` or ``.npz`` file.

    ``request.partner_shape`` is the shape of the array in the other file of a
    two-file layout (the labels of these predictions, or the predictions of
    these labels): arrays of any rank pair by their shapes.
    """
    pred, label = numpy_arrays(name, path, fmt, request.role)
    shape = None
    if pred is not None:
        other = label.shape if label is not None else request.partner_shape
        shape = array_shape(name, pred.shape, other, request.class_axis)
    elif label is not None and request.partner_shape is not None:
        shape = array_shape(name, request.partner_shape, label.shape, request.class_axis)
    return array_source(name, fmt, pred=pred, label=label, classes=request.classes, shape=shape)


def numpy_arrays(name: str, path: str, fmt: str, role: str) -> tuple[Rows | None, Rows | None]:
    """The (predictions, labels) arrays a ``.npy`` or ``.npz`` file holds for ``role``."""
    label: Rows | None = None
    pred: Rows | None = None
    if fmt == "npy":
        array = NpyRows(name, path)
        if role == "labels":
            return None, array
        return array, None
    arrays = _npz_members(name, path)
    label = next((arrays[k] for k in NPZ_LABEL_NAMES if k in arrays), None)
    pred = next((arrays[k] for k in NPZ_PRED_NAMES if k in arrays), None)
    if label is None and pred is None and set(arrays) <= set(NPZ_UNNAMED) and arrays:
        pred = arrays.get(NPZ_UNNAMED[0])
        label = arrays.get(NPZ_UNNAMED[1])
        if role == "labels" and label is None:
            label, pred = pred, None
    if role == "labels" and label is None and len(arrays) == 1:
        label = next(iter(arrays.values()))
    if role == "predictions" and pred is None:
        raise InputError(
            f"{name}: no predictions array; name it one of {', '.join(NPZ_PRED_NAMES)} "
            f"(found: {', '.join(arrays) or 'none'})"
        )
    if role == "labels" and label is None:
        raise InputError(
            f"{name}: no labels array; name it one of {', '.join(NPZ_LABEL_NAMES)} "
            f"(found: {', '.join(arrays) or 'none'})"
        )
    return pred, label


def _npz_members(name: str, path: str) -> dict[str, Rows]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{name}: not a valid .npz file: {first_line(exc)}") from exc
    try:
        return {_array_name(m): NpzMember(name, path, m) for m in members}
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise InputError(f"{name}: not a valid .npz file: {first_line(exc)}") from exc


def array_source(
    name: str,
    fmt: str,
    *,
    pred: Rows | np.ndarray[Any, Any] | None,
    label: Rows | np.ndarray[Any, Any] | None,
    classes: Sequence[str] | None = None,
    weights: np.ndarray[Any, Any] | None = None,
    shape: ArrayShape | None = None,
) -> Source:
    """A :class:`Source` over arrays (in memory or in files), read in row blocks.

    With ``shape`` (arrays of any rank), every position is a row: predictions
    become the (positions, K) matrix, labels the vector of positions.
    """
    pred_rows = MemoryRows(pred) if isinstance(pred, np.ndarray) else pred
    label_rows = MemoryRows(label) if isinstance(label, np.ndarray) else label
    if shape is not None:
        pred_rows, label_rows = _positions(pred_rows, label_rows, shape)
    arrays = {
        role: a for role, a in (("predictions", pred_rows), ("labels", label_rows)) if a is not None
    }
    for role, array in arrays.items():
        dims = array.shape
        if array.dtype.hasobject:
            raise InputError(f"{name}: {role} hold Python objects; use numbers or strings")
        if array.dtype.kind not in "biufUS":
            raise InputError(
                f"{name}: {role} have dtype {array.dtype}, which xent cannot score; "
                "use numbers (or strings for labels)"
            )
        if len(dims) not in (1, 2) or (len(dims) == 2 and dims[1] == 0):
            raise InputError(f"{name}: {role} array has shape {dims}; expected (N,) or (N, K)")
    if len({a.shape[0] for a in arrays.values()}) > 1:
        assert pred_rows is not None
        assert label_rows is not None
        raise DataError(
            f"{name}: predictions have {pred_rows.shape[0]} rows but labels have "
            f"{label_rows.shape[0]}; both arrays must have one row per sample"
        )
    n_rows = next(iter(arrays.values())).shape[0] if arrays else 0
    # Each column is (role, column index or None for a 1-D array).
    columns: dict[str, tuple[str, int | None]] = {}
    if pred_rows is not None:
        if len(pred_rows.shape) == 1:
            columns[ARRAY_PREDICTION_COLUMN] = ("predictions", None)
        else:
            names = _class_names(name, pred_rows.shape[1], classes)
            columns.update({c: ("predictions", j) for j, c in enumerate(names)})
    prediction_columns = tuple(columns)
    label_columns: tuple[str, ...] = ()
    if label_rows is not None:
        if len(label_rows.shape) == 1 or label_rows.shape[1] == 1:
            columns[ARRAY_LABEL_COLUMN] = ("labels", None)
        else:
            names = _class_names(name, label_rows.shape[1], classes)
            label_columns = tuple(f"label:{c}" for c in names)
            columns.update({c: ("labels", j) for j, c in enumerate(label_columns)})
    if weights is not None:
        columns["__weight__"] = ("weights", None)
    schema = pa.schema(
        [
            pa.field(c, pa.float64() if role == "weights" else _arrow_type(arrays[role].dtype))
            for c, (role, _) in columns.items()
        ]
    )
    data = ArrayData(
        predictions=pred_rows,
        labels=label_rows,
        weights=weights,
        prediction_names=prediction_columns,
        label_names=label_columns or ((ARRAY_LABEL_COLUMN,) if label_rows is not None else ()),
        n_rows=n_rows,
        group_size=shape.positions if shape is not None else None,
    )

    def open_batches(
        names: Sequence[str], types: dict[str, pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        width = pred_rows.shape[1] if pred_rows is not None and len(pred_rows.shape) == 2 else 1
        step = limits.rows_per_chunk(8 * (width + 2))
        start = 0
        for pred_block, label_block in data.row_blocks(step):
            blocks = {"predictions": pred_block, "labels": label_block}
            if weights is not None:
                blocks["weights"] = weights[start : start + step]
            out = []
            for column in names:
                role, j = columns[column]
                block = blocks[role]
                assert block is not None
                chunk = block if j is None else block[:, j]
                target = types.get(column)
                if target is not None and pa.types.is_floating(target):
                    chunk = _as_numbers(name, chunk, start, column)
                out.append(_numpy_to_arrow(np.ascontiguousarray(chunk)))
            yield pa.RecordBatch.from_arrays(out, names=list(names))
            start += step

    return Source(
        name,
        fmt,
        schema,
        open_batches,
        label_columns=label_columns,
        prediction_columns=prediction_columns,
        arrays=data,
    )


def _positions(
    pred: Rows | None, label: Rows | None, shape: ArrayShape
) -> tuple[Rows | None, Rows | None]:
    """Arrays of any rank as the rows of their positions (see :class:`ArrayShape`)."""
    if pred is not None:
        if shape.class_axis == 1:
            pred = ChannelsFirst(pred)
        elif shape.class_axis == -1:
            pred = pred.reshaped((math.prod(pred.shape[:-1]), pred.shape[-1]))
        else:
            pred = pred.reshaped((math.prod(pred.shape),))
    if label is not None:
        label = label.reshaped((math.prod(label.shape),))
    return pred, label


def numpy_shape(name: str, path: str, fmt: str, role: str) -> tuple[int, ...] | None:
    """The shape of the array a NumPy file holds for ``role`` (read from its header)."""
    pred, label = numpy_arrays(name, path, fmt, role)
    array = pred if role == "predictions" else label
    return array.shape if array is not None else None


def _as_numbers(
    name: str, chunk: np.ndarray[Any, Any], start: int, column: str
) -> np.ndarray[Any, Any]:
    """A column as float64; text that is not a number is invalid data naming its row."""
    if chunk.dtype.kind not in "US":
        return chunk.astype(np.float64)
    for i, text in enumerate(chunk.tolist()):
        try:
            float(text)
        except ValueError:
            raise DataError(
                f"{name}: {describe_row(start + i, None)}, column {column!r}: {text!r} is not "
                "a number; predictions must be numeric"
            ) from None
    return chunk.astype(np.float64)


def _numpy_to_arrow(array: np.ndarray[Any, Any]) -> pa.Array:
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8", errors="replace")
    if array.dtype.kind == "U":
        return pa.array(array.tolist(), type=pa.string())
    return pa.array(array)


def _class_names(name: str, width: int, classes: Sequence[str] | None) -> list[str]:
    if classes is None:
        return [str(j) for j in range(width)]
    if len(classes) != width:
        raise UsageError(
            f"{name}: --classes names {len(classes)} classes but the array has {width} columns"
        )
    return list(classes)


def _arrow_type(dtype: np.dtype[Any]) -> pa.DataType:
    if dtype.kind in "US":
        return pa.string()
    return pa.from_numpy_dtype(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)
