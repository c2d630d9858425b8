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
            codes = self.groups.codes(groups)
            self.groups.add(codes, scored.numerator, scored.denominator, sample_bytes)
        if self.label_sums is not None and label_values is not None:
            codes = self.label_sums.codes([label_values])
            self.label_sums.add(codes, scored.numerator, scored.denominator)
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
        for i in _largest(loss, k).tolist():
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
    key of the chunk once (keys are dictionary-encoded first), so grouping by a
    column with a million values costs a dictionary lookup per distinct value,
    not per row.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.keys: list[Any] = []
        self._index: dict[Any, int] = {}
        self.count = np.zeros(0, dtype=np.int64)
        self.loss_sum = np.zeros(0)
        self.weight_sum = np.zeros(0)
        #: Bytes of text per group (``--bytes-col``), or None without it.
        self.bytes_sum: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def codes(self, columns: Sequence[pa.Array]) -> npt.NDArray[np.intp]:
        """The group number of every row, adding groups first seen here."""
        local, values = _local_keys(columns)
        index = self._index
        lookup = np.zeros(len(values), dtype=np.intp)
        used = np.bincount(local, minlength=len(values)) > 0  # a dictionary may hold more
        for i in np.flatnonzero(used).tolist():
            key = values[i]
            number = index.get(key)
            if number is None:
                number = index[key] = len(self.keys)
                self.keys.append(key)
            lookup[i] = number
        self._grow()
        result: npt.NDArray[np.intp] = lookup[local]
        return result

    def add(
        self,
        codes: npt.NDArray[np.intp],
        numerator: FloatArray,
        denominator: FloatArray,
        sample_bytes: FloatArray | None = None,
    ) -> None:
        """Add each sample's part of the weighted loss sum and weight sum (and its bytes
        of text) to its group."""
        k = len(self.keys)
        self.count += np.bincount(codes, minlength=k)
        self.loss_sum += np.bincount(codes, weights=numerator, minlength=k)
        self.weight_sum += np.bincount(codes, weights=denominator, minlength=k)
        if sample_bytes is not None:
            if self.bytes_sum is None:
                self.bytes_sum = np.zeros(k)
            self.bytes_sum += np.bincount(codes, weights=sample_bytes, minlength=k)

    def merge(self, other: GroupSums) -> None:
        """Fold in the groups of ``other`` (over other rows)."""
        lookup = np.empty(len(other.keys), dtype=np.intp)
        for i, key in enumerate(other.keys):
            key = _canonical(key)  # keys from another process hold NaN objects of their own
            number = self._index.get(key)
            if number is None:
                number = self._index[key] = len(self.keys)
                self.keys.append(key)
            lookup[i] = number
        self._grow()
        np.add.at(self.count, lookup, other.count)
        np.add.at(self.loss_sum, lookup, other.loss_sum)
        np.add.at(self.weight_sum, lookup, other.weight_sum)
        if other.bytes_sum is not None:
            if self.bytes_sum is None:
                self.bytes_sum = np.zeros(len(self.keys))
            np.add.at(self.bytes_sum, lookup, other.bytes_sum)

    def _grow(self) -> None:
        missing = len(self.keys) - len(self.count)
        if missing > 0:
            self.count = np.concatenate([self.count, np.zeros(missing, dtype=np.int64)])
            self.loss_sum = np.concatenate([self.loss_sum, np.zeros(missing)])
            self.weight_sum = np.concatenate([self.weight_sum, np.zeros(missing)])
            if self.bytes_sum is not None:
                self.bytes_sum = np.concatenate([self.bytes_sum, np.zeros(missing)])


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
    from xent.read.arrow import null_mask, numpy_view, text_values

    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    # NaN is never equal to itself: every NaN key is the one NaN object, found by identity.
    values = [_NAN if v != v else v for v in text_values(column.dictionary).to_pylist()]
    codes = numpy_view(column.indices).astype(np.intp)
    if column.null_count:
        codes = np.where(null_mask(column), len(values), codes)
        values.append(None)
    return codes, values
