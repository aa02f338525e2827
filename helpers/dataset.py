"""The multi-label dataset on disk: PNG files, ``labels.csv`` and ``arrays.npz``.

Layout of one split folder, e.g. ``data/multilabel-fashion-mnist/train/``::

    00000.png ...    8-bit greyscale, exactly the canvas pixels
    labels.csv       the metadata table (see :func:`helpers.composite.metadata_frame`)
    arrays.npz       the same data as arrays, for fast loading
    settings.json    the seed and settings that built it

A split is written into a temporary folder and renamed into place, so an
interrupted write leaves nothing half-written. Loading checks that images,
arrays and metadata agree, and refuses a folder built with other settings.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image

from helpers import fashion
from helpers._checks import check_choice
from helpers.composite import (
    DEFAULT_ITEMS,
    DEFAULT_SLOT,
    SPLIT_SIZES,
    Composites,
    parse_metadata,
    standard_splits,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = PROJECT_ROOT / "data" / "multilabel-fashion-mnist"
FORMAT_VERSION = 1
ARRAYS = ("images", "labels", "items", "boxes", "sources")


def settings_for(
    split: str,
    seed: int = 0,
    *,
    items_per_image: int = DEFAULT_ITEMS,
    variable_count: bool = False,
    count: int | None = None,
) -> dict:
    """Return the settings record that identifies one split folder."""
    check_choice(split, "split", SPLIT_SIZES)
    return {
        "format": FORMAT_VERSION,
        "split": split,
        "seed": int(seed),
        "items_per_image": int(items_per_image),
        "variable_count": bool(variable_count),
        "slot": DEFAULT_SLOT,
        "count": int(SPLIT_SIZES[split] if count is None else count),
    }


def save(composites: Composites, folder: Path, settings: dict, progress: Callable[[Iterable], Iterable] = iter) -> Path:
    """Write one split atomically into ``folder`` (which must not exist).

    Parameters
    ----------
    composites : Composites
    folder : path
        The split folder to create, e.g. ``data/multilabel-fashion-mnist/train``.
    settings : dict
        From :func:`settings_for`; stored as ``settings.json``.
    progress : callable, optional
        Wraps the loop over images, e.g. ``tqdm.tqdm``.

    Raises
    ------
    FileExistsError
        If ``folder`` already exists: nothing is overwritten.
    """
    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; remove it to rebuild")
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        for index in progress(range(len(composites))):
            Image.fromarray(composites.images[index], mode="L").save(temporary / f"{index:05d}.png")
        composites.metadata().to_csv(temporary / "labels.csv", index=False)
        np.savez_compressed(temporary / "arrays.npz", **{name: getattr(composites, name) for name in ARRAYS})
        (temporary / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        try:
            temporary.rename(folder)
        except OSError as error:
            if folder.exists():  # another process finished the same split first
                raise FileExistsError(f"{folder} already exists; remove it to rebuild") from error
            raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return folder


def load(folder: Path, expected: dict | None = None, *, check_pngs: bool = True) -> Composites:
    """Load one split folder, checking that its parts agree.

    Parameters
    ----------
    folder : path
        A split folder written by :func:`save`.
    expected : dict, optional
        Settings from :func:`settings_for`; a folder built with other
        settings is refused.
    check_pngs : bool, default True
        Also decode every PNG and compare it with the arrays.

    Raises
    ------
    FileNotFoundError
        If the folder or one of its files is missing.
    ValueError
        If the folder was built with other settings, or its images, arrays
        and metadata disagree.
    """
    folder = Path(folder)
    if not (folder / "settings.json").is_file():
        raise FileNotFoundError(f"{folder} holds no dataset split (no settings.json); build it with `python -m helpers data`")
    recorded = json.loads((folder / "settings.json").read_text())
    if expected is not None and recorded != expected:
        changed = {k: (recorded.get(k), v) for k, v in expected.items() if recorded.get(k) != v}
        raise ValueError(
            f"{folder} was built with other settings: "
            + ", ".join(f"{k}={old!r} (wanted {new!r})" for k, (old, new) in changed.items())
            + "; remove the folder to rebuild it, or ask for its settings"
        )
    with np.load(folder / "arrays.npz", allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in ARRAYS}
    frame = pd.read_csv(folder / "labels.csv", dtype={"items": str, "boxes": str, "source_index": str})
    count = recorded["count"]
    if len(frame) != count or len(arrays["images"]) != count:
        raise ValueError(f"{folder}: settings say {count} composites, labels.csv has {len(frame)}, arrays.npz {len(arrays['images'])}")
    parsed = parse_metadata(frame, recorded["items_per_image"], recorded["slot"])
    for name, values in parsed.items():
        if not np.array_equal(values, arrays[name]):
            raise ValueError(f"{folder}: labels.csv and arrays.npz disagree on {name}")
    if check_pngs:
        for index, fname in enumerate(frame["fname"]):
            with Image.open(folder / fname) as png:
                if not np.array_equal(np.asarray(png), arrays["images"][index]):
                    raise ValueError(f"{folder / fname} differs from arrays.npz")
    source_split = "test" if recorded["split"] == "test" else "train"
    return Composites(source_split=source_split, **arrays)


def build(
    root: Path = DEFAULT_ROOT,
    seed: int = 0,
    *,
    splits: Iterable[str] = tuple(SPLIT_SIZES),
    items_per_image: int = DEFAULT_ITEMS,
    variable_count: bool = False,
    progress: Callable[[Iterable], Iterable] = iter,
    exist_ok: bool = False,
) -> dict[str, Path]:
    """Build standard splits from the real Fashion-MNIST and write them under ``root``.

    Parameters
    ----------
    root : path
        Receives one folder per split.
    seed : int
        The same seed gives byte-identical files.
    splits : iterable of str
        Which of ``train``, ``val``, ``test`` to write (all by default).
    items_per_image, variable_count
        As in :func:`helpers.composite.compose`.
    progress : callable, optional
        Wraps the loop over images, e.g. ``tqdm.tqdm``.
    exist_ok : bool
        Leave a split folder that exists (or that another process finishes
        first) as it is, instead of raising ``FileExistsError``.

    Returns
    -------
    dict
        The folder of each split.
    """
    built = standard_splits(fashion.load(), seed, items_per_image=items_per_image, variable_count=variable_count)
    written = {}
    for split in splits:
        settings = settings_for(split, seed, items_per_image=items_per_image, variable_count=variable_count)
        folder = Path(root) / split
        try:
            written[split] = save(built[split], folder, settings, progress)
        except FileExistsError:
            if not exist_ok:
                raise
            written[split] = folder
    return written


def load_splits(
    root: Path = DEFAULT_ROOT,
    seed: int = 0,
    *,
    splits: Iterable[str] = tuple(SPLIT_SIZES),
    build_if_missing: bool = True,
    check_pngs: bool = False,
) -> dict[str, Composites]:
    """Load standard splits under ``root``, building any that is missing.

    A split folder built with other settings is refused, never rebuilt.

    Parameters
    ----------
    root : path
    seed : int
    splits : iterable of str
        Which of ``train``, ``val``, ``test`` to load (all by default).
    build_if_missing : bool
        Build a missing split (True) or raise ``FileNotFoundError``.
    check_pngs : bool
        Also compare every PNG with the arrays (see :func:`load`).

    Returns
    -------
    dict
        ``{"train": Composites, "val": Composites, "test": Composites}``, or
        the splits asked for.
    """
    root = Path(root)
    wanted = [check_choice(split, "split", SPLIT_SIZES) for split in splits]
    missing = [split for split in wanted if not (root / split).exists()]
    if missing:
        if not build_if_missing:
            raise FileNotFoundError(f"{root} lacks {missing}; build them with `python -m helpers data --out {root}`")
        build(root, seed, splits=missing, exist_ok=True)
    return {split: load(root / split, settings_for(split, seed), check_pngs=check_pngs) for split in wanted}
