"""The accumulate stage: mergeable sums behind every figure of a report.

An :class:`Accumulator` adds up the scored chunks of a pass: per-class sums,
a histogram of per-sample losses, the highest-loss samples and, on request,
the context metrics. Two accumulators over disjoint rows merge exactly, so
chunks of one file, or shards scored on other machines, combine into the same
figures as one pass over everything.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from xent.loss import ScoredChunk

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: Histogram edges of per-sample loss, in the reported unit (the last bin is open).
HISTOGRAM_EDGES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


@dataclass(order=True)
class _Worst:
    loss: float
    index: int
    id: Any = field(compare=False)
    label: str = field(compare=False)


class Accumulator:
    """Mergeable sums behind every figure of a report.

    Per class it keeps the weighted loss sum, the weight sum, the row count and
    the target mass (summed weighted target probability, for the prior-only
    reference loss); overall the clipped and renormalized counts, a histogram of
    per-sample losses and the ``top_k`` highest-loss samples. Two accumulators
    over disjoint rows :meth:`merge` into the accumulator of their union.
    Losses are in nats.
    """

    def __init__(
        self, n_classes: int, *, top_k: int = 5, histogram_edges_nats: Sequence[float] = ()
    ) -> None:
        self.n_classes = n_classes
        self.top_k = top_k
        self.loss_sum = np.zeros(n_classes)
        self.weight_sum = np.zeros(n_classes)
        self.target_mass = np.zeros(n_classes)
        self.count = np.zeros(n_classes, dtype=np.int64)
        self.edges = np.asarray(histogram_edges_nats or _nats_edges(1.0), dtype=np.float64)
        self.histogram = np.zeros(len(self.edges), dtype=np.int64)
        #: Sums over every sample (the aggregate when there are no fixed classes).
        self.total_loss = 0.0
        self.total_weight = 0.0
        #: Bytes of text covered (``--bytes-col``), or None without it.
        self.total_bytes: float | None = None
        #: Weighted sum of the target entropies (``--metrics kl,target-entropy``).
        self.total_entropy = 0.0
        self.n_samples = 0
        self.n_ignored = 0
        self.n_clipped = 0
        self.n_renormalized = 0
        self._worst: list[_Worst] = []
        #: Optional context metrics (a mergeable ``xent.metrics.MetricsAccumulator``).
        self.metrics: Any = None
        #: Optional sums per group of samples (``--by``).
        self.groups: GroupSums | None = None
        #: Sums per label value, the classes of true-class values (known only as read).
        self.label_sums: GroupSums | None = None

    def add(
        self,
        scored: ScoredChunk,
        *,
        index: npt.NDArray[np.int64],
        labels: npt.NDArray[Any],
        ids: Any = None,
        groups: Sequence[pa.Array] = (),
        label_values: pa.Array | None = None,
        sample_bytes: FloatArray | None = None,
    ) -> None:
        """Add one scored chunk; ``index`` holds each sample's 0-based input row,
        ``labels`` the label shown for it, ``ids`` its id (an Arrow array or None),
        ``groups`` its group key columns, ``label_values`` its label (for the
        per-label sums of true-class values) and ``sample_bytes`` the bytes of text
        it covers."""
        if sample_bytes is not None:
            self.total_bytes = (self.total_bytes or 0.0) + float(sample_bytes.sum())
        if self.groups is not None and groups:
            self.groups.add(groups, scored.numerator, scored.denominator, sample_bytes)
        if self.label_sums is not None and label_values is not None:
            self.label_sums.add([label_values], scored.numerator, scored.denominator)
        self.total_loss += float(scored.numerator.sum())
        self.total_weight += float(scored.denominator.sum())
        if scored.entropy is not None:
            self.total_entropy += float(scored.entropy.sum())
        self.loss_sum += scored.class_loss
        self.weight_sum += scored.class_weight
        self.count += scored.class_count
        self.target_mass += scored.class_mass
        self.n_clipped += scored.n_clipped
        self.add_samples(scored.loss, index=index, labels=labels, ids=ids)

    def add_samples(
        self,
        sample_loss: FloatArray,
        *,
        index: npt.NDArray[np.int64],
        labels: Sequence[str] | npt.NDArray[Any],
        ids: Any = None,
    ) -> None:
        """Count samples in the histogram and the top-K list."""
        n = len(sample_loss)
        self.n_samples += n
        if n == 0:
            return
        finite_or_inf = np.where(np.isnan(sample_loss), np.inf, sample_loss)
        # Samples at or above each edge, by one comparison per edge (there are few).
        at_least = np.array([np.count_nonzero(finite_or_inf >= e) for e in self.edges])
        at_least[0] = n  # below the first edge (a loss of -0.0) counts in the first bin
        self.histogram += at_least - np.append(at_least[1:], 0)
        self._offer_worst(finite_or_inf, index, labels, ids)

    def _offer_worst(
        self,
        loss: FloatArray,
        index: npt.NDArray[np.int64],
        labels: Sequence[str] | npt.NDArray[Any],
        ids: Any,
    ) -> None:
        k = self.top_k
        if k <= 0:
            return
        if len(self._worst) == k:
            # Only a loss at least the k-th highest so far can enter: one comparison
            # over the chunk, then the search among the few that pass.
            passing = np.flatnonzero(loss >= self._worst[0].loss)
            picks = passing[_largest(loss[passing], k)]
        else:
            picks = _largest(loss, k)
        for i in picks.tolist():
            ident: Any = None if ids is None else ids[i]
            if hasattr(ident, "as_py"):  # an Arrow scalar
                ident = ident.as_py()
            entry = _Worst(float(loss[i]), -int(index[i]), ident, str(labels[i]))
            # Ties keep the earliest row: the index is stored negated so it loses.
            if len(self._worst) < k:
                heapq.heappush(self._worst, entry)
            elif entry > self._worst[0]:
                heapq.heapreplace(self._worst, entry)

    def merge(self, other: Accumulator) -> Accumulator:
        """Fold ``other`` (over disjoint rows) into this accumulator and return it."""
        if other.n_classes != self.n_classes:
            raise ValueError("cannot merge accumulators with different class counts")
        self.total_loss += other.total_loss
        self.total_weight += other.total_weight
        self.total_entropy += other.total_entropy
        if other.total_bytes is not None:
            self.total_bytes = (self.total_bytes or 0.0) + other.total_bytes
        self.loss_sum += other.loss_sum
        self.weight_sum += other.weight_sum
        self.count += other.count
        self.target_mass += other.target_mass
        self.histogram += other.histogram
        self.n_samples += other.n_samples
        self.n_ignored += other.n_ignored
        self.n_clipped += other.n_clipped
        self.n_renormalized += other.n_renormalized
        if self.metrics is not None and other.metrics is not None:
            self.metrics.merge(other.metrics)
        if other.groups is not None:
            if self.groups is None:
                self.groups = GroupSums(other.groups.names)
            self.groups.merge(other.groups)
        if other.label_sums is not None:
            if self.label_sums is None:
                self.label_sums = GroupSums(other.label_sums.names)
            self.label_sums.merge(other.label_sums)
        for entry in other._worst:
            if len(self._worst) < self.top_k:
                heapq.heappush(self._worst, entry)
            elif entry > self._worst[0]:
                heapq.heapreplace(self._worst, entry)
        return self

    def worst(self) -> list[tuple[int, Any, str, float]]:
        """The top-K samples as (index, id, label, loss), highest loss first."""
        ordered = sorted(self._worst, reverse=True)
        return [(-w.index, w.id, w.label, w.loss) for w in ordered]


def _largest(values: FloatArray, k: int) -> IntArray:
    """Indices of the ``k`` largest values; among equal values the earliest win."""
    if len(values) <= k:
        return np.arange(len(values))
    kth = np.partition(values, len(values) - k)[len(values) - k]
    above = np.flatnonzero(values > kth)
    ties = np.flatnonzero(values == kth)[: k - len(above)]
    return np.concatenate([above, ties])


def _nats_edges(nats_per_unit: float) -> list[float]:
    return [edge * nats_per_unit for edge in HISTOGRAM_EDGES]


def histogram_edges_nats(unit: str) -> list[float]:
    """The histogram edges of :data:`HISTOGRAM_EDGES` (given in ``unit``) in nats."""
    return _nats_edges(math.log(2.0) if unit == "bits" else 1.0)


def entropy_nats(mass: FloatArray) -> float:
    """Entropy of the distribution proportional to ``mass`` (0·log 0 = 0), in nats."""
    total = float(mass.sum())
    if total <= 0.0:
        return math.nan
    f = mass[mass > 0] / total
    return float(-(f * np.log(f)).sum())


def binary_entropy_nats(p: float) -> float:
    """Entropy of a Bernoulli(p) variable in nats."""
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1.0 - p) * math.log1p(-p))


class GroupSums:
    """Sums per group of samples (``--by``), mergeable like the rest.

    A group is the tuple of its key values, one per group column (a single
    value for one column). Memory grows with the number of groups, never with
    the number of rows. Mapping a chunk's keys to groups touches each distinct
    key of the chunk once (keys are dictionary-encoded first). Groups of one
    text column, the common case and the one with a million groups (one per
    document or user), are numbered by a :class:`~xent.join.KeyTable`, with no
    Python object per key; other keys by a dictionary of their Python values.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._keys: list[Any] = []
        self._index: dict[Any, int] = {}
        self._text: _TextGroups | None = None
        # The sums, in buffers that double when full (views of them are public).
        self._count = np.zeros(0, dtype=np.int64)
        self._loss = np.zeros(0)
        self._weight = np.zeros(0)
        self._bytes: FloatArray | None = None

    def __len__(self) -> int:
        return len(self._text) if self._text is not None else len(self._keys)

    @property
    def keys(self) -> list[Any]:
        """The key of every group, by group number."""
        return self._text.keys() if self._text is not None else self._keys

    @property
    def count(self) -> npt.NDArray[np.int64]:
        """Samples per group."""
        return self._count[: len(self)]

    @property
    def loss_sum(self) -> FloatArray:
        """Weighted loss summed per group."""
        return self._loss[: len(self)]

    @property
    def weight_sum(self) -> FloatArray:
        """Weight summed per group."""
        return self._weight[: len(self)]

    @property
    def bytes_sum(self) -> FloatArray | None:
        """Bytes of text per group (``--bytes-col``), or None without it."""
        return None if self._bytes is None else self._bytes[: len(self)]

    def codes(self, columns: Sequence[pa.Array]) -> npt.NDArray[np.intp]:
        """The group number of every row, adding groups first seen here."""
        local, numbers = self._local(columns)
        result: npt.NDArray[np.intp] = numbers[local]
        return result

    def add(
        self,
        columns: Sequence[pa.Array],
        numerator: FloatArray,
        denominator: FloatArray,
        sample_bytes: FloatArray | None = None,
    ) -> None:
        """Add each sample's part of the weighted loss sum and weight sum (and its bytes
        of text) to its group; ``columns`` hold the samples' keys.

        The sums are taken over the chunk's own groups first, then added to those
        groups: the work is set by the chunk, not by the number of groups so far.
        """
        local, numbers = self._local(columns)
        m = len(numbers)
        # ``add.at``, not ``+=``: two values of a chunk may be one group (a dictionary
        # that repeats a value), and each must be added.
        np.add.at(self._count, numbers, np.bincount(local, minlength=m))
        np.add.at(self._loss, numbers, np.bincount(local, weights=numerator, minlength=m))
        np.add.at(self._weight, numbers, np.bincount(local, weights=denominator, minlength=m))
        if sample_bytes is not None:
            if self._bytes is None:
                self._bytes = np.zeros(len(self._count))
            np.add.at(self._bytes, numbers, np.bincount(local, weights=sample_bytes, minlength=m))

    def _local(
        self, columns: Sequence[pa.Array]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Each row's code among the chunk's distinct keys, and each of those keys'
        group number, adding groups first seen here."""
        if (
            len(columns) == 1
            and _is_text(columns[0].type)
            and (self._text is not None or not self._keys)
        ):
            if self._text is None:
                self._text = _TextGroups()
            local, numbers = self._text.local(columns[0])
        else:
            self._use_dictionary()
            local, values = _local_keys(columns)
            local, used = _compact(local, len(values))
            index = self._index
            numbers = np.empty(len(used), dtype=np.intp)
            for j, i in enumerate(used.tolist()):
                key = values[i]
                number = index.get(key)
                if number is None:
                    number = index[key] = len(self._keys)
                    self._keys.append(key)
                numbers[j] = number
        self._grow()
        return local, numbers

    def _use_dictionary(self) -> None:
        """Number groups by a dictionary of their keys from now on."""
        if self._text is not None:
            self._keys = list(self._text.keys())
            self._index = {key: i for i, key in enumerate(self._keys)}
            self._text = None

    def merge(self, other: GroupSums) -> None:
        """Fold in the groups of ``other`` (over other rows)."""
        self._use_dictionary()
        lookup = np.empty(len(other), dtype=np.intp)
        for i, key in enumerate(other.keys):
            key = _canonical(key)  # keys from another process hold NaN objects of their own
            number = self._index.get(key)
            if number is None:
                number = self._index[key] = len(self._keys)
                self._keys.append(key)
            lookup[i] = number
        self._grow()
        np.add.at(self._count, lookup, other.count)
        np.add.at(self._loss, lookup, other.loss_sum)
        np.add.at(self._weight, lookup, other.weight_sum)
        if other.bytes_sum is not None:
            if self._bytes is None:
                self._bytes = np.zeros(len(self._count))
            np.add.at(self._bytes, lookup, other.bytes_sum)

    def _grow(self) -> None:
        """Room in the buffers for every group (doubling, so growth costs O(groups))."""
        if len(self) <= len(self._count):
            return
        size = max(len(self), 2 * len(self._count), 64)

        def grown(buffer: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.zeros(size, dtype=buffer.dtype)
            out[: len(buffer)] = buffer
            return out

        self._count, self._loss, self._weight = map(grown, (self._count, self._loss, self._weight))
        if self._bytes is not None:
            self._bytes = grown(self._bytes)


def _compact(
    local: npt.NDArray[np.intp], n_values: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Codes among only the values used (a dictionary may hold more), and those values'
    positions."""
    used = np.flatnonzero(np.bincount(local, minlength=n_values) > 0)
    position = np.zeros(n_values, dtype=np.intp)
    position[used] = np.arange(len(used))
    return position[local], used


class _TextGroups:
    """The groups of one text column, numbered by a :class:`~xent.join.KeyTable`."""

    def __init__(self) -> None:
        from xent.join import KeyTable

        self.table = KeyTable()
        self.new: list[pa.Array] = []  # the keys, in number order, as first seen
        self._keys: list[Any] = []

    def __len__(self) -> int:
        return len(self.table)

    def local(self, column: pa.Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Each row's code among the distinct values of ``column`` used, and the group
        number of each of those values, adding the keys first seen."""
        from xent.read.arrow import distinct_codes, null_mask

        rows, dictionary = distinct_codes(column)
        dictionary = dictionary.cast(pa.string())
        if column.null_count:  # a null is one more value, after the dictionary's
            rows = np.where(null_mask(column), len(dictionary), rows)
        local, used = _compact(rows, len(dictionary) + 1)
        has_null = bool(len(used)) and bool(used[-1] == len(dictionary))
        values = used[:-1] if has_null else used
        # A reader's dictionary is usually used whole: no copy of its text then.
        distinct = dictionary if len(values) == len(dictionary) else dictionary.take(values)
        if has_null:
            distinct = pa.concat_arrays([distinct, pa.nulls(1, pa.string())])
        before = len(self.table)
        numbers = self.table.add(distinct)
        added = len(self.table) - before
        if added:
            # The keys first seen, in number order (numbers are given in order of first
            # sight; a dictionary may repeat a value, and its first place stands for it).
            fresh = numbers >= before
            if np.count_nonzero(fresh) == added:
                self.new.append(distinct.filter(fresh))
            else:
                seen, first = np.unique(numbers, return_index=True)
                self.new.append(distinct.take(first[seen >= before]))
        return local, numbers.astype(np.intp)

    def keys(self) -> list[Any]:
        """Every key by number (None for a null), made into Python values once."""
        if len(self._keys) != len(self.table):
            self._keys = pa.concat_arrays(self.new).to_pylist() if self.new else []
        return self._keys


def _is_text(data_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


_NAN = float("nan")


def _canonical(key: Any) -> Any:
    """A key with every NaN replaced by :data:`_NAN`."""
    if isinstance(key, tuple):
        return tuple(_NAN if v != v else v for v in key)
    return _NAN if key != key else key


def _local_keys(columns: Sequence[pa.Array]) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Each row's code among the chunk's distinct keys, and those keys.

    A key is a value for one column, a tuple of values for several.
    """
    encoded = [_encoded(column) for column in columns]
    if len(encoded) == 1:
        return encoded[0]
    stacked = np.stack([codes for codes, _ in encoded], axis=1)
    distinct, local = np.unique(stacked, axis=0, return_inverse=True)
    keys = [
        tuple(values[code] for (_, values), code in zip(encoded, row, strict=True))
        for row in distinct.tolist()
    ]
    return local.reshape(-1).astype(np.intp), keys


def _encoded(column: pa.Array) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Row codes and distinct values of one key column (a null is the value None)."""
    from xent.read.arrow import distinct_codes, null_mask, text_values

    codes, dictionary = distinct_codes(column)
    # NaN is never equal to itself: every NaN key is the one NaN object, found by identity.
    values = [_NAN if v != v else v for v in text_values(dictionary).to_pylist()]
    if column.null_count:
        codes = np.where(null_mask(column), len(values), codes)
        values.append(None)
    return codes, values
