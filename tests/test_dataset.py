"""The dataset on disk: files, round-trips, refusals, atomic writes."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import composite, dataset
from helpers.__main__ import main
from helpers.fashion import CLASS_NAMES


def test_pngs_are_8bit_greyscale_with_exactly_the_canvas_pixels(small_dataset_root, fashion_data):
    built = composite.standard_splits(fashion_data, 0, sizes={"train": 60, "val": 20, "test": 20})
    with Image.open(small_dataset_root / "test" / "00003.png") as png:
        assert png.mode == "L" and png.size == (128, 32)
        np.testing.assert_array_equal(np.asarray(png), built["test"].images[3])


def test_labels_csv_round_trips_to_the_arrays(small_dataset_root):
    loaded = dataset.load(small_dataset_root / "val", check_pngs=True)
    frame = pd.read_csv(small_dataset_root / "val" / "labels.csv", dtype=str)
    assert list(frame.columns[6:]) == list(CLASS_NAMES)
    parsed = composite.parse_metadata(frame.astype({c: int for c in CLASS_NAMES}), 4)
    for name, values in parsed.items():
        np.testing.assert_array_equal(values, getattr(loaded, name))


def test_folder_built_with_other_settings_is_refused(small_dataset_root):
    wanted = dataset.settings_for("val", seed=1, count=20)
    with pytest.raises(ValueError, match=r"built with other settings: seed=0 \(wanted 1\)"):
        dataset.load(small_dataset_root / "val", wanted)


def rehash(folder):
    """Record the files' current hashes in settings.json, as if the folder had been built this way."""
    settings = json.loads((folder / "settings.json").read_text())
    settings["sha256"] = dataset.file_hashes(folder, settings["count"])
    (folder / "settings.json").write_text(json.dumps(settings))


def test_disagreeing_metadata_is_refused(small_dataset_root, tmp_path):
    copy = tmp_path / "val"
    shutil.copytree(small_dataset_root / "val", copy)
    frame = pd.read_csv(copy / "labels.csv", dtype=str)
    frame.loc[0, "items"] = "0 0 0 0"
    frame.to_csv(copy / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"val/labels.csv changed after the split was built"):
        dataset.load(copy)
    rehash(copy)  # a consistent record of inconsistent files is still refused
    with pytest.raises(ValueError, match="labels.csv and arrays.npz disagree on items"):
        dataset.load(copy)


def test_changed_png_is_refused(small_dataset_root, tmp_path):
    copy = tmp_path / "test"
    shutil.copytree(small_dataset_root / "test", copy)
    Image.fromarray(np.zeros((32, 128), np.uint8), mode="L").save(copy / "00001.png")
    with pytest.raises(ValueError, match=r"test/\*.png changed after the split was built"):
        dataset.load(copy, check_pngs=False)
    rehash(copy)
    with pytest.raises(ValueError, match="00001.png differs from arrays.npz"):
        dataset.load(copy, check_pngs=True)


def test_existing_folder_is_never_overwritten(small_dataset_root, splits):
    with pytest.raises(FileExistsError, match="already exists"):
        dataset.save(splits["val"], small_dataset_root / "val", {})


def test_interrupted_write_leaves_no_half_folder(tmp_path, splits, monkeypatch):
    def failing_progress(iterable):
        for index in iterable:
            if index == 5:
                raise KeyboardInterrupt
            yield index

    with pytest.raises(KeyboardInterrupt):
        dataset.save(splits["val"], tmp_path / "val", dataset.settings_for("val"), failing_progress)
    assert list(tmp_path.iterdir()) == []


def test_unknown_split_is_refused():
    with pytest.raises(
        ValueError, match=r"split must be one of \('train', 'val', 'test'\); got 'valid'"
    ):
        dataset.settings_for("valid")


def test_load_splits_builds_and_loads_only_the_splits_asked_for(tmp_path, splits):
    loaded = dataset.load_splits(tmp_path, seed=0, splits=("test",), build_if_missing=True)
    assert list(loaded) == ["test"] and [p.name for p in tmp_path.iterdir()] == ["test"]
    np.testing.assert_array_equal(loaded["test"].images, splits["test"].images)
    with pytest.raises(
        ValueError, match=r"split must be one of \('train', 'val', 'test'\); got 'valid'"
    ):
        dataset.load_splits(tmp_path, splits=("valid",))


def test_load_splits_only_reads_a_folder_given_to_it(tmp_path):
    assert (
        dataset.load_splits.__kwdefaults__["build_if_missing"] is None
    )  # only DEFAULT_ROOT builds
    for root, problem in [
        (tmp_path / "typo", "the folder does not exist"),
        (tmp_path, "it lacks test"),
    ]:
        with pytest.raises(FileNotFoundError, match=f"no dataset at .*{root.name}: {problem}"):
            dataset.load_splits(root, splits=("test",))
    assert list(tmp_path.iterdir()) == []


def test_a_split_of_another_canvas_is_refused_by_its_canvas(small_dataset_root, tmp_path):
    shutil.copytree(small_dataset_root / "test", tmp_path / "test")
    settings = json.loads((tmp_path / "test" / "settings.json").read_text())
    settings["items_per_image"] = 2
    (tmp_path / "test" / "settings.json").write_text(json.dumps(settings))
    with pytest.raises(
        ValueError,
        match=r"built with other settings: items_per_image=2 \(wanted 4\): "
        r"canvases of 32 x 64 pixels, not 32 x 128",
    ):
        dataset.load(tmp_path / "test", dataset.settings_for("test", count=20))


def test_settings_and_file_hashes_are_recorded(small_dataset_root):
    folder = small_dataset_root / "train"
    recorded = json.loads((folder / "settings.json").read_text())
    hashes = recorded.pop("sha256")
    assert recorded == dataset.settings_for("train", 0, count=60)
    assert hashes == dataset.file_hashes(folder, 60) and set(hashes) == {
        "arrays.npz",
        "labels.csv",
        "png",
    }


@pytest.mark.slow
def test_command_line_builds_identical_files_twice(tmp_path, capsys):
    for name in ("a", "b"):
        assert main(["data", "--out", str(tmp_path / name), "--seed", "0"]) == 0
    summary = capsys.readouterr().out
    assert "wrote train 9000, val 1000, test 1000 composites" in summary
    for split in ("train", "val", "test"):
        files_a = sorted(p.name for p in (tmp_path / "a" / split).iterdir())
        assert files_a == sorted(p.name for p in (tmp_path / "b" / split).iterdir())
        for name in files_a:
            assert (tmp_path / "a" / split / name).read_bytes() == (
                tmp_path / "b" / split / name
            ).read_bytes(), name
    loaded = dataset.load_splits(tmp_path / "a", seed=0, build_if_missing=False, check_pngs=True)
    assert len(loaded["train"]) == 9_000


def test_command_line_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "train").mkdir()
    assert main(["data", "--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def tiny_composites(count: int = 5) -> composite.Composites:
    """A few composites of blank products: enough for the file format, no Fashion-MNIST needed."""
    return composite.compose(
        np.zeros((40, 28, 28), np.uint8),
        np.arange(40) % 10,
        np.arange(40),
        count,
        np.random.default_rng(0),
    )


KILLED_WRITE = """
import os, signal, sys
import numpy as np
from helpers import composite, dataset
parts = composite.compose(
    np.zeros((40, 28, 28), np.uint8), np.arange(40) % 10, np.arange(40), 5, np.random.default_rng(0)
)
def progress(indices):
    for index in indices:
        if index == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        yield index
dataset.save(parts, sys.argv[1], dataset.settings_for("val", count=5), progress)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid liveness are POSIX")
def test_the_next_write_clears_what_a_killed_one_left_and_spares_a_running_one(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "val"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(target)], cwd=dataset.PROJECT_ROOT
    )
    assert killed.returncode == -9
    left = list(tmp_path.glob(".val.partial-*"))
    assert len(left) == 1 and any(left[0].iterdir())  # KILL gives no chance to clean up
    running = (
        tmp_path / f".val.partial-{os.getppid()}-abcdefgh"
    )  # pytest's parent is alive: a write in progress
    running.mkdir()
    dataset.save(tiny_composites(), target, dataset.settings_for("val", count=5))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([running.name, "val"])
    assert len(dataset.load(target).images) == 5


def test_only_true_leftovers_are_cleared(tmp_path):
    kept = {
        ".val.partial-backup": ["labels.csv"],  # no writer's pid in the name
        ".val.partial-999999999-abcdefgh": ["notes.txt"],  # a file no write makes
        ".valuable.partial-999999999-abcdefgh": ["labels.csv"],  # another folder's name
    }
    for name, files in kept.items():
        (tmp_path / name).mkdir()
        for file in files:
            (tmp_path / name / file).write_text("mine")
    (tmp_path / ".val.partial-999999999-abcdefgh" / "sub").mkdir()
    gone = tmp_path / ".val.partial-999999999-zyxwvuts"
    gone.mkdir()
    (gone / "00000.png").write_bytes(b"")
    assert dataset.clear_leftovers(tmp_path / "val") == [gone]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)
