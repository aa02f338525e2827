"""The multi-label dataset on disk: PNG files, ``labels.csv`` and ``arrays.npz``.

Layout of one split folder, e.g. ``data/multilabel-fashion-mnist/train/``::

    00000.png ...    8-bit greyscale, exactly the canvas pixels
    labels.csv       the metadata table (see :func:`helpers.composite.metadata_frame`)
    arrays.npz       the same data as arrays, for fast loading
    settings.json    the seed and settings that built it, and the SHA-256 of
                     arrays.npz, labels.csv and the PNGs

A split is written into a temporary folder and renamed into place, so an
interrupted write leaves nothing half-written (and the next write clears what
an interrupted one left). Loading checks every file against the hashes
recorded when the split was built, then that arrays and metadata agree, and
refuses a folder built with other settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image

from helpers import fashion
from helpers._checks import check_choice, check_scalar
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
FORMAT_VERSION = 2  # 2: settings.json records the SHA-256 of the files
ARRAYS = ("images", "labels", "items", "boxes", "sources")
HASHED = ("arrays.npz", "labels.csv", "png")
ABANDONED_AFTER = 24 * 3600  # seconds; where a writer's liveness cannot be asked, older leftovers are cleared


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
    check_scalar(seed, "seed", low=0)
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
    clear_leftovers(folder)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-{os.getpid()}-", dir=folder.parent))
    try:
        for index in progress(range(len(composites))):
            Image.fromarray(composites.images[index], mode="L").save(temporary / f"{index:05d}.png")
        composites.metadata().to_csv(temporary / "labels.csv", index=False)
        np.savez_compressed(temporary / "arrays.npz", **{name: getattr(composites, name) for name in ARRAYS})
        record = {**settings, "sha256": file_hashes(temporary, len(composites))}
        (temporary / "settings.json").write_text(json.dumps(record, indent=2) + "\n")
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


def file_hashes(folder: Path, count: int) -> dict[str, str]:
    """SHA-256 of a split folder's ``arrays.npz``, ``labels.csv`` and, in order, its ``count`` PNG files (as one digest)."""
    hashes = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in HASHED[:2]}
    pngs = hashlib.sha256()
    for index in range(count):
        pngs.update(hashlib.sha256((folder / f"{index:05d}.png").read_bytes()).digest())
    return {**hashes, "png": pngs.hexdigest()}


def clear_leftovers(folder: Path) -> list[Path]:
    """Remove what interrupted writes of ``folder`` left beside it; return what was removed.

    A write works in ``.{name}.partial-{pid}-*`` and renames it into place;
    killed before the rename, it leaves that folder. It is removed once its
    writer is gone (on POSIX, no process ``pid``; elsewhere, a day after it
    was last touched), so a write still running is never disturbed.
    """
    folder = Path(folder)
    removed = []
    for leftover in folder.parent.glob(f".{folder.name}.partial-*"):
        if leftover.is_dir() and not _writer_alive(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def _writer_alive(leftover: Path) -> bool:
    owner = leftover.name.rsplit(".partial-", 1)[1].split("-", 1)[0]
    if os.name != "posix" or not owner.isdigit():
        return time.time() - leftover.stat().st_mtime < ABANDONED_AFTER
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user holds the number
        return True
    return True


def _read_settings(folder: Path) -> dict:
    path = folder / "settings.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no dataset split (no settings.json); build it with `python -m helpers data`")
    try:
        recorded = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); remove the folder to rebuild it") from None
    if not isinstance(recorded, dict) or not {"split", "count", "items_per_image", "slot"} <= recorded.keys():
        raise ValueError(f"{path} is not the settings record of a split (it lacks split, count, items_per_image or slot); remove the folder to rebuild it")
    return recorded


def _verify_files(folder: Path, recorded: dict) -> None:
    """Check every file of the split against the hashes recorded at build time."""
    wanted = recorded.get("sha256")
    if not isinstance(wanted, dict) or set(wanted) != set(HASHED):
        raise ValueError(f"{folder / 'settings.json'} records no file hashes; the split was built by another version: remove the folder to rebuild it")
    for name in HASHED[:2]:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing or not a file; remove the folder to rebuild it")
    missing = [f"{index:05d}.png" for index in range(recorded["count"]) if not (folder / f"{index:05d}.png").is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {len(missing)} of its PNG files (first: {missing[0]}); remove the folder to rebuild it")
    found = file_hashes(folder, recorded["count"])
    for name in HASHED:
        if found[name] != wanted[name]:
            where = folder / name if name != "png" else folder / "*.png"
            raise ValueError(
                f"{where} changed after the split was built (its SHA-256 differs from the one in settings.json); "
                "remove the folder to rebuild it"
            )


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
        If the folder was built with other settings, a file changed after
        the build (its SHA-256 differs from the recorded one), or its arrays
        and metadata disagree.
    """
    folder = Path(folder)
    recorded = _read_settings(folder)
    settings = {k: v for k, v in recorded.items() if k != "sha256"}
    if expected is not None and settings != expected:
        changed = {k: (settings.get(k), v) for k, v in expected.items() if settings.get(k) != v}
        raise ValueError(
            f"{folder} was built with other settings: "
            + ", ".join(f"{k}={old!r} (wanted {new!r})" for k, (old, new) in changed.items())
            + "; remove the folder to rebuild it, or ask for its settings"
        )
    _verify_files(folder, recorded)
    try:
        with np.load(folder / "arrays.npz", allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in ARRAYS}
        frame = pd.read_csv(folder / "labels.csv", dtype={"items": str, "boxes": str, "source_index": str})
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, pd.errors.ParserError):
        # not numpy's message: for a file it cannot parse, it suggests loading pickles, which is never safe here
        raise ValueError(
            f"{folder}: arrays.npz (a zip of the arrays {', '.join(ARRAYS)}, no pickled objects) "
            "or labels.csv cannot be read; remove the folder to rebuild it"
        ) from None
    count = recorded["count"]
    if len(frame) != count or len(arrays["images"]) != count:
        raise ValueError(f"{folder}: settings say {count} composites, labels.csv has {len(frame)}, arrays.npz {len(arrays['images'])}")
    try:
        parsed = parse_metadata(frame, recorded["items_per_image"], recorded["slot"])
    except (KeyError, ValueError) as error:
        raise ValueError(f"{folder / 'labels.csv'} is not a metadata table of this format ({error!r}); remove the folder to rebuild it") from None
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
    check_scalar(seed, "seed", low=0)
    splits = [check_choice(split, "split", SPLIT_SIZES) for split in splits]
    existing = [Path(root) / split for split in splits if (Path(root) / split).exists()]
    if existing and not exist_ok:  # refuse before writing any split, not after the first ones
        raise FileExistsError(f"{existing[0]} already exists; remove it to rebuild")
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
    check_scalar(seed, "seed", low=0)
    missing = [split for split in wanted if not (root / split).exists()]
    if missing and not build_if_missing:
        raise FileNotFoundError(f"{root} lacks {missing}; build them with `python -m helpers data --out {root}`")
    # the splits that exist are checked first, so that a bad one stops the load before anything is built
    loaded = {split: load(root / split, settings_for(split, seed), check_pngs=check_pngs) for split in wanted if split not in missing}
    if missing:
        build(root, seed, splits=missing, exist_ok=True)
        loaded |= {split: load(root / split, settings_for(split, seed), check_pngs=check_pngs) for split in missing}
    return {split: loaded[split] for split in wanted}
