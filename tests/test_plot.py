"""``xent score --plot FILE``: the figure is written, whole, or not at all.

Every plot is rendered to a real file and checked from its bytes: a PNG by its
signature and the image size in its IHDR header, an SVG by parsing it as XML and
finding the three panel titles (text stays text: ``svg.fonttype`` is ``none``).
Failures (a bad suffix, matplotlib missing, a run that fails) leave no file.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

import xent
from xent.errors import EnvironmentFault, UsageError
from xent.render import plot

Result = tuple[int, str, str]
Invoke = Callable[[Sequence[str]], Result]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
PANEL_TITLES = (plot.TITLE_HISTOGRAM, plot.TITLE_CLASSES, plot.TITLE_RELIABILITY)

#: Inputs (copied into the test directory) and the score options each needs.
CASES: dict[str, tuple[str, list[str]]] = {
    "multiclass": ("iris.csv", []),
    "binary": ("binary.csv", []),
    "binary-named-bits": ("spam.csv", ["--pos-label", "spam", "--unit", "bits"]),
    "logits": ("logits.csv", ["--ignore-label", "-100"]),
    "weighted": ("weighted.csv", ["--weight-col", "w"]),
    "infinite-loss": ("confident.csv", ["--eps", "0"]),
}


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's signature and IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert length == 13
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def svg_texts(data: bytes) -> list[str]:
    """The text of every <text> element of an SVG (which must parse as XML)."""
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def expected_png_size(n_classes: int) -> tuple[int, int]:
    shown = min(n_classes, plot.MAX_CLASSES)
    height = min(7.0, max(4.6, 1.9 + 0.25 * shown))
    return round(15.0 * 120), round(height * 120)


def leftovers(directory: Path) -> list[str]:
    """Temporary files a plot might have left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".xent"))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The examples, copied into the directory the CLI runs in."""
    for name in {case[0] for case in CASES.values()}:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def synthetic(path: Path, n: int = 2000, k: int = 8, seed: int = 3) -> Path:
    """A multiclass CSV of ``n`` rows: overconfident softmax outputs of noisy logits."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(0.0, 1.0, (n, k))
    z[np.arange(n), y] += rng.uniform(0.5, 3.5, k)[y]
    z *= 1.7
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    names = [f"class_{c}" for c in range(k)]
    lines = ["id,label," + ",".join(f"p_{c}" for c in names)]
    lines += [f"s{i},{names[y[i]]}," + ",".join(repr(float(v)) for v in p[i]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- rendering -------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_png_is_written_with_its_size(invoke: Invoke, data: Path, case: str) -> None:
    name, options = CASES[case]
    code, out, err = invoke(["score", name, *options, "--plot", "loss.png"])
    assert code == 0, err
    assert "xent score" in out  # the usual report is still printed
    png = (data / "loss.png").read_bytes()
    report = xent.score(str(data / name), **_library_options(options))
    assert png_size(png) == expected_png_size(len(report.classes))
    assert leftovers(data) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_svg_parses_and_has_the_three_panels(invoke: Invoke, data: Path, case: str) -> None:
    name, options = CASES[case]
    code, _, err = invoke(["score", name, *options, "--plot", "loss.svg"])
    assert code == 0, err
    texts = svg_texts((data / "loss.svg").read_bytes())
    joined = "\n".join(texts)
    for title in PANEL_TITLES:
        assert title in joined
    title = next(t for t in texts if t.startswith(f"{name}:"))
    report = xent.score(str(data / name), **_library_options(options))
    assert report.task in title
    assert report.unit in title
    assert "ECE" in joined
    assert leftovers(data) == []


def _library_options(args: list[str]) -> dict[str, object]:
    names = {
        "--pos-label": "pos_label",
        "--unit": "unit",
        "--ignore-label": "ignore_label",
        "--weight-col": "weight_col",
        "--eps": "eps",
    }
    return {names[args[i]]: args[i + 1] for i in range(0, len(args), 2)}


def test_large_multiclass_file(invoke: Invoke, tmp_path: Path) -> None:
    synthetic(tmp_path / "many.csv")
    for target in ("many.png", "many.svg"):
        code, _, err = invoke(["score", "many.csv", "--plot", target, "--metrics", "all"])
        assert code == 0, err
    assert png_size((tmp_path / "many.png").read_bytes()) == expected_png_size(8)
    texts = "\n".join(svg_texts((tmp_path / "many.svg").read_bytes()))
    assert "N = 2,000" in texts
    assert all(f"class_{c}" in texts for c in range(8))


def test_many_classes_show_the_highest_losses(invoke: Invoke, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n, k = 1500, 60
    y = rng.integers(0, k, n)
    z = rng.normal(0.0, 1.0, (n, k))
    z[np.arange(n), y] += 2.0
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    code, _, err = invoke(["score", "z.npy", "--labels", "y.npy", "--plot", "z.svg"])
    assert code == 0, err
    texts = svg_texts((tmp_path / "z.svg").read_bytes())
    assert f"{plot.TITLE_CLASSES} (highest {plot.MAX_CLASSES} of {k})" in texts
    report = xent.score(str(tmp_path / "z.npy"), labels=str(tmp_path / "y.npy"))
    worst = max(report.per_class, key=lambda c: c.loss)
    best = min(report.per_class, key=lambda c: c.loss)
    assert worst.name in texts
    assert best.name not in texts
    code, _, err = invoke(["score", "z.npy", "--labels", "y.npy", "--plot", "z.png"])
    assert code == 0, err
    assert png_size((tmp_path / "z.png").read_bytes()) == expected_png_size(k)


def test_svg_output_is_reproducible(invoke: Invoke, data: Path) -> None:
    invoke(["score", "iris.csv", "--plot", "a.svg"])
    invoke(["score", "iris.csv", "--plot", "b.svg"])
    assert (data / "a.svg").read_bytes() == (data / "b.svg").read_bytes()


def test_bits_label_the_reference_in_bits(invoke: Invoke, data: Path) -> None:
    code, _, err = invoke(["score", "iris.csv", "--unit", "bits", "--plot", "b.svg"])
    assert code == 0, err
    texts = svg_texts((data / "b.svg").read_bytes())
    # both the histogram and the per-class legend
    assert texts.count(f"uniform log₂ K = {math.log2(3):.3g}") == 2
    assert not any("ln K" in t for t in texts)
    assert "loss per sample (bits), bin edges" in texts


def test_plot_replaces_an_old_plot_and_keeps_the_gate_exit_code(invoke: Invoke, data: Path) -> None:
    (data / "loss.png").write_bytes(b"old")
    code, _, err = invoke(["score", "iris.csv", "--max-loss", "0.01", "--plot", "loss.png"])
    assert code == 1
    assert "max-loss" in err
    assert (data / "loss.png").read_bytes().startswith(PNG_SIGNATURE)


def test_write_plot_without_calibration_bins(tmp_path: Path) -> None:
    """A report without the ``ece`` metric (e.g. multilabel) still gets three panels."""
    source = EXAMPLES / "multilabel.csv"
    report = xent.score(str(source), task="multilabel", label_cols="y_*")
    assert report.metrics is None
    plot.write_plot(report, str(tmp_path / "m.svg"))
    texts = "\n".join(svg_texts((tmp_path / "m.svg").read_bytes()))
    for title in PANEL_TITLES:
        assert title in texts
    assert "no calibration bins" in texts
    assert "uniform p = 1/2" in texts
    plot.write_plot(report, str(tmp_path / "m.png"))
    assert png_size((tmp_path / "m.png").read_bytes()) == expected_png_size(3)


def test_importing_xent_does_not_import_matplotlib() -> None:
    code = (
        "import sys, xent, xent.cli, xent.render.plot; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- failures ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["loss.pdf", "loss.jpg", "loss", "loss.png.txt"])
def test_bad_suffix_is_a_usage_error(invoke: Invoke, data: Path, target: str) -> None:
    code, out, err = invoke(["score", "iris.csv", "--plot", target])
    assert code == 2
    assert out == ""  # checked before any scoring
    assert err.count("\n") == 1
    assert err.startswith("xent: error: --plot: ")
    assert "use a .png or .svg file name" in err
    assert not (data / target).exists()
    assert leftovers(data) == []


def test_upper_case_suffix_is_fine(invoke: Invoke, data: Path) -> None:
    code, _, err = invoke(["score", "iris.csv", "--plot", "LOSS.PNG"])
    assert code == 0, err
    assert (data / "LOSS.PNG").read_bytes().startswith(PNG_SIGNATURE)


def test_missing_matplotlib_gives_the_install_hint(
    invoke: Invoke, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = invoke(["score", "iris.csv", "--plot", "loss.png"])
    assert code == 2
    assert out == ""
    assert err == "xent: error: --plot needs matplotlib: pip install 'xent[plot]'\n"
    assert not (data / "loss.png").exists()
    with pytest.raises(UsageError, match=r"pip install 'xent\[plot\]'"):
        plot.check_plot_path("loss.svg")


def test_missing_directory_is_reported_before_scoring(invoke: Invoke, data: Path) -> None:
    code, out, err = invoke(["score", "iris.csv", "--plot", "no/such/dir/loss.png"])
    assert code == 74  # an output that cannot be written, as for --output
    assert out == ""
    assert err.count("\n") == 1
    assert "no/such/dir/loss.png" in err
    with pytest.raises(EnvironmentFault):
        plot.check_plot_path(str(data / "nowhere" / "x.svg"))


def test_a_failed_run_leaves_no_plot_file(invoke: Invoke, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("label,p_a,p_b\na,0.5,0.5\nb,0.7,0.7\n")
    code, out, err = invoke(["score", "bad.csv", "--plot", "loss.png"])
    assert code == 4
    assert out == ""
    assert err.count("\n") == 1
    assert not (tmp_path / "loss.png").exists()
    assert leftovers(tmp_path) == []


def test_a_failed_write_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    report = xent.score(str(EXAMPLES / "iris.csv"), metrics=("ece",))
    target = tmp_path / "loss.png"
    target.write_bytes(b"previous plot")

    def fail(self: Figure, *args: object, **kwargs: object) -> None:
        stream = args[0]
        assert hasattr(stream, "write")
        stream.write(b"half a picture")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        plot.write_plot(report, str(target))
    assert target.read_bytes() == b"previous plot"
    assert leftovers(tmp_path) == []
