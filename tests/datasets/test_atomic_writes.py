"""All-or-nothing saves: the previous complete file survives a failed write, no partial file is left.

The size-limit test runs the save in a real child process under ``RLIMIT_FSIZE`` (the kernel
refuses writes past the limit with EFBIG, as a full disk refuses with ENOSPC).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from kedro.io import DatasetError

from rulelens.datasets.atomic import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicParquetDataset,
    AtomicTextDataset,
)
from rulelens.datasets.atomic_files import leftover_partials


def test_each_dataset_round_trips_and_leaves_no_partial(tmp_path):
    frame = pd.DataFrame({"clause_id": ["a", "b"], "rule": ["=SUM(1)", "require=x.y_m >= 1"]})
    AtomicParquetDataset(filepath=str(tmp_path / "t.parquet")).save(frame)
    csv = AtomicCSVDataset(filepath=str(tmp_path / "t.csv"), save_args={"index": False})
    csv.save(frame)
    AtomicJSONDataset(filepath=str(tmp_path / "m.json")).save({"x": 1.5})
    AtomicTextDataset(filepath=str(tmp_path / "p.html")).save("<p>ok</p>")
    figure, axes = plt.subplots()
    axes.plot([0, 1])
    AtomicMatplotlibDataset(filepath=str(tmp_path / "f.png")).save(figure)
    plt.close(figure)

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame)
    pd.testing.assert_frame_equal(csv.load(), frame)  # formula escaping still round-trips
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5}
    assert (tmp_path / "p.html").read_text() == "<p>ok</p>"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert leftover_partials(tmp_path) == []


def test_a_save_that_fails_midway_keeps_the_previous_file(tmp_path):
    """json.dump writes as it goes, so the failure comes after part of the new file is written."""
    target = tmp_path / "metrics.json"
    dataset = AtomicJSONDataset(filepath=str(target))
    dataset.save({"valid": 0.5})
    with pytest.raises(DatasetError, match="not JSON serializable"):
        dataset.save({"valid": 0.75, "model": object()})
    assert json.loads(target.read_text()) == {"valid": 0.5}
    assert leftover_partials(tmp_path) == []


SIZE_LIMITED_SAVE = textwrap.dedent(
    """
    import resource, signal, sys
    import pandas as pd
    from rulelens.datasets.atomic import AtomicParquetDataset, AtomicTextDataset

    folder = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG as an error, as a full disk gives ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    kind = sys.argv[2]
    if kind == "parquet":
        big = pd.DataFrame({"text": [f"row {i} " + "x" * 200 for i in range(5000)]})
        AtomicParquetDataset(filepath=folder + "/t.parquet", save_args={"compression": None}).save(big)
    else:
        AtomicTextDataset(filepath=folder + "/report.html").save("<p>" + "y" * 200_000 + "</p>")
    """
)


@pytest.mark.parametrize("kind", ["parquet", "text"])
def test_a_size_limit_stops_the_save_with_the_file_named_and_the_old_file_intact(tmp_path, kind):
    """Unit: one save in a child process whose file-size limit (64 KiB) the new file exceeds."""
    if kind == "parquet":
        AtomicParquetDataset(filepath=str(tmp_path / "t.parquet")).save(pd.DataFrame({"text": ["old"]}))
    else:
        AtomicTextDataset(filepath=str(tmp_path / "report.html")).save("<p>old</p>")
    done = subprocess.run(
        [sys.executable, "-c", SIZE_LIMITED_SAVE, str(tmp_path), kind], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    name = "t.parquet" if kind == "parquet" else "report.html"
    assert name in done.stderr and "DatasetError" in done.stderr
    assert "File too large" in done.stderr or "Errno 27" in done.stderr, done.stderr[-2000:]
    if kind == "parquet":
        assert pd.read_parquet(tmp_path / "t.parquet")["text"].tolist() == ["old"]
    else:
        assert (tmp_path / "report.html").read_text() == "<p>old</p>"
    assert leftover_partials(tmp_path) == []
