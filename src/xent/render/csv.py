"""Per-sample CSV output (``--format csv``), written chunk by chunk as scoring goes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

HEADER = ("index", "id", "label", "loss")


class CsvSampleWriter:
    """Writes ``index,id,label,loss`` rows (``id`` only when there is an id column).

    Losses are written with ``repr`` precision, so reading them back gives the
    same float64 values.
    """

    def __init__(self, stream: IO[str], *, with_id: bool) -> None:
        self.stream = stream
        self.with_id = with_id

    def start(self) -> None:
        """Write the header (again, after truncating, if scoring restarts)."""
        self.stream.seek(0)
        self.stream.truncate()
        header = HEADER if self.with_id else tuple(h for h in HEADER if h != "id")
        csv.writer(self.stream, lineterminator="\n").writerow(header)

    def write(
        self,
        index: npt.NDArray[np.int64],
        ids: Sequence[Any] | None,
        labels: Sequence[str] | npt.NDArray[Any],
        loss: npt.NDArray[np.float64],
        weight: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Append one chunk of samples (``weight`` is not written)."""
        writer = csv.writer(self.stream, lineterminator="\n")
        losses = [_format_loss(v) for v in loss.tolist()]
        if self.with_id:
            id_values = ids if ids is not None else [""] * len(index)
            writer.writerows(zip(index.tolist(), id_values, labels, losses, strict=True))
        else:
            writer.writerows(zip(index.tolist(), labels, losses, strict=True))


def _format_loss(value: float) -> str:
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return repr(value)
