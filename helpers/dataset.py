"""The multi-label dataset on disk: PNG files, ``labels.csv`` and ``arrays.npz``.

Layout of one split folder, e.g. ``data/multilabel-fashion-mnist/train/``::

    00000.png ...    8-bit greyscale, exactly the canvas pixels
    labels.csv       the metadata table (see :func:`helpers.composite.metadata_frame`)
    arrays.npz       the same data as arrays, for fast loading
    settings.json    the seed and settings that built it, and the SHA-256 of
                     arrays.npz, labels.csv and the PNGs

A split is written into a temporary folder and renamed into place, so an
interrupted write leaves nothing half-written (the next write clears what it
left). Loading checks every file against the hashes recorded at build time,
then that arrays and metadata agree; a folder built otherwise is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers import fashion
from helpers._checks import check_choice, check_output_folder, check_scalar
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
HASHED_FILES = ("arrays.npz", "labels.csv")
HASHES = (*HASHED_FILES, "png")  # "png": one digest over every PNG, in order
SETTINGS_TYPES = {
    "format": int,
    "split": str,
    "seed": int,
    "items_per_image": int,
    "variable_count": bool,
    "slot": int,
    "count": int,
}
SPLIT_FILE = re.compile(r"\d{5}\.png|labels\.csv|arrays\.npz|settings\.json")
ABANDONED_AFTER = (
    24 * 3600
)  # seconds; where a writer's liveness cannot be asked, older leftovers are cleared


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


def _exists(folder: Path) -> FileExistsError:
    return FileExistsError(f"{folder} already exists; remove it to rebuild")


def save(
    composites: Composites,
    folder: Path,
    settings: dict,
    progress: Callable[[Iterable], Iterable] = iter,
) -> Path:
    """Write one split atomically into ``folder`` (which must not exist).

    ``settings`` (from :func:`settings_for`) is stored as ``settings.json``
    with the files' hashes; ``progress`` wraps the loop over images (e.g.
    ``tqdm.tqdm``). Raises ``FileExistsError`` if ``folder`` exists: nothing
    is overwritten.
    """
    folder = Path(folder)
    if folder.exists():
        raise _exists(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    clear_leftovers(folder)
    temporary = Path(
        tempfile.mkdtemp(prefix=f".{folder.name}.partial-{os.getpid()}-", dir=folder.parent)
    )
    try:
        for index in progress(range(len(composites))):
            Image.fromarray(composites.images[index], mode="L").save(temporary / png_name(index))
        composites.metadata().to_csv(temporary / "labels.csv", index=False)
        np.savez_compressed(
            temporary / "arrays.npz", **{name: getattr(composites, name) for name in ARRAYS}
        )
        record = {**settings, "sha256": file_hashes(temporary, len(composites))}
        (temporary / "settings.json").write_text(json.dumps(record, indent=2) + "\n")
        try:
            temporary.rename(folder)
        except OSError as error:
            if folder.exists():  # another process finished the same split first
                raise _exists(folder) from error
            raise
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return folder


def png_name(index: int) -> str:
    """The file name of composite ``index`` in a split folder."""
    return f"{index:05d}.png"


def _read_files(folder: Path, count: int) -> tuple[dict[str, bytes], list[bytes]]:
    """Read a split's ``arrays.npz`` and ``labels.csv`` and its ``count`` PNGs, each once."""
    blobs = {}
    for name in HASHED_FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder / name} is missing or not a file; remove the folder to rebuild it"
            )
        blobs[name] = (folder / name).read_bytes()
    missing = [png_name(i) for i in range(count) if not (folder / png_name(i)).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {len(missing)} of its PNG files (first: {missing[0]}); remove the folder to rebuild it"
        )
    return blobs, [(folder / png_name(i)).read_bytes() for i in range(count)]


def _digests(blobs: dict[str, bytes], pngs: list[bytes]) -> dict[str, str]:
    combined = hashlib.sha256()
    for png in pngs:
        combined.update(hashlib.sha256(png).digest())
    return {
        **{name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()},
        "png": combined.hexdigest(),
    }


def file_hashes(folder: Path, count: int) -> dict[str, str]:
    """SHA-256 of a split folder's ``arrays.npz``, ``labels.csv`` and, in order, its ``count``
    PNG files (as one digest)."""
    return _digests(*_read_files(Path(folder), count))


def clear_leftovers(folder: Path) -> list[Path]:
    """Remove what interrupted writes of ``folder`` left beside it; return what was removed.

    A write works in ``.{name}.partial-{pid}-{8 characters}`` and renames it
    into place; killed before the rename, it leaves that folder. Only folders
    of exactly that name that hold nothing but a split's files are removed,
    and only once their writer is gone: on POSIX when no process has that
    pid, elsewhere a day after the folder was last touched. (A write from
    another machine sharing the folder cannot be told apart on POSIX.)
    """
    folder = Path(folder)
    leftover_name = re.compile(rf"\.{re.escape(folder.name)}\.partial-(\d+)-[a-z0-9_]{{8}}")
    removed = []
    for candidate in folder.parent.iterdir() if folder.parent.is_dir() else ():
        found = leftover_name.fullmatch(candidate.name)
        if (
            found
            and _holds_only_split_files(candidate)
            and not _writer_alive(candidate, int(found.group(1)))
        ):
            shutil.rmtree(candidate, ignore_errors=True)
            if not candidate.exists():
                removed.append(candidate)
    return removed


def _holds_only_split_files(candidate: Path) -> bool:
    if candidate.is_symlink() or not candidate.is_dir():
        return False
    return all(
        entry.is_file() and not entry.is_symlink() and SPLIT_FILE.fullmatch(entry.name)
        for entry in candidate.iterdir()
    )


def _writer_alive(leftover: Path, pid: int) -> bool:
    if os.name != "posix":  # no cheap, safe liveness test: go by age
        try:
            return time.time() - leftover.stat().st_mtime < ABANDONED_AFTER
        except OSError:
            return True
    if (
        pid == os.getpid()
    ):  # this process writes one split at a time: the pid was reused after a kill
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process holds the number / not a pid
        return True
    return True


def _read_settings(folder: Path) -> dict:
    """Read ``settings.json``, refusing one of another format or with fields of the wrong type."""
    path = folder / "settings.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} holds no dataset split (no settings.json); build it with `python -m helpers data`"
        )
    try:
        recorded = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); remove the folder to rebuild it"
        ) from None
    if not isinstance(recorded, dict):
        raise ValueError(
            f"{path} is not the settings record of a split (a JSON object); remove the folder to rebuild it"
        )
    if recorded.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{folder} was built by another version of this project (format {recorded.get('format')!r}, "
            f"this one reads {FORMAT_VERSION}); remove the folder to rebuild it"
        )
    wrong = [key for key, kind in SETTINGS_TYPES.items() if type(recorded.get(key)) is not kind]
    hashes = recorded.get("sha256")
    if wrong or not isinstance(hashes, dict) or set(hashes) != set(HASHES):
        problem = (
            f"fields {wrong} are missing or of the wrong type"
            if wrong
            else "it records no file hashes"
        )
        raise ValueError(
            f"{path} is not the settings record of a split: {problem}; remove the folder to rebuild it"
        )
    if recorded["split"] not in SPLIT_SIZES or recorded["count"] < 0:
        raise ValueError(
            f"{path} names split {recorded['split']!r} with {recorded['count']} composites; "
            "remove the folder to rebuild it"
        )
    return recorded


def _parse_arrays(folder: Path, blob: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as stored:
            return {name: stored[name] for name in ARRAYS}
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise ValueError(
                f"{folder / 'arrays.npz'} cannot be read ({error}); remove the folder to rebuild it"
            ) from None
        # numpy's own message would suggest loading the pickles, which is never safe here
        raise ValueError(
            f"{folder / 'arrays.npz'} holds pickled objects, which are never loaded; remove the folder to rebuild it"
        ) from None
    except (KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{folder / 'arrays.npz'} is not a zip of the arrays {', '.join(ARRAYS)} ({error}); "
            "remove the folder to rebuild it"
        ) from None


def _parse_labels(
    folder: Path, blob: bytes, items_per_image: int, slot: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    try:
        frame = pd.read_csv(
            io.BytesIO(blob), dtype={"items": str, "boxes": str, "source_index": str}
        )
        return frame, parse_metadata(frame, items_per_image, slot)
    except (
        KeyError,
        ValueError,
        TypeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as error:
        raise ValueError(
            f"{folder / 'labels.csv'} is not a metadata table of this format ({error!r}); "
            "remove the folder to rebuild it"
        ) from None


def _canvas_note(settings: dict, expected: dict) -> str:
    """Say how the canvases differ, where other slot or item settings change their size."""

    def canvas(record: dict) -> tuple[object, object]:
        slot, items = record.get("slot"), record.get("items_per_image")
        return slot, slot * items if isinstance(slot, int) and isinstance(items, int) else None

    found, wanted = canvas(settings), canvas(expected)
    if found == wanted or None in (*found, *wanted):
        return ""
    return f": canvases of {found[0]} x {found[1]} pixels, not {wanted[0]} x {wanted[1]}"


def load(folder: Path, expected: dict | None = None, *, check_pngs: bool = True) -> Composites:
    """Load one split folder: every file read once, checked against its recorded SHA-256, then parsed.

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
        If the folder was built with other settings or by another version, a
        file changed after the build, or its arrays and metadata disagree.
    """
    folder = Path(folder)
    recorded = _read_settings(folder)
    settings = {k: v for k, v in recorded.items() if k != "sha256"}
    if expected is not None and settings != expected:
        changed = {
            k: (settings.get(k), expected.get(k))
            for k in settings.keys() | expected.keys()
            if settings.get(k) != expected.get(k)
        }
        raise ValueError(
            f"{folder} was built with other settings: "
            + ", ".join(
                f"{k}={old!r} (wanted {new!r})" for k, (old, new) in sorted(changed.items())
            )
            + _canvas_note(settings, expected)
            + "; remove the folder to rebuild it, or ask for its settings"
        )
    count = recorded["count"]
    blobs, pngs = _read_files(folder, count)
    found = _digests(blobs, pngs)
    for name in HASHES:
        if found[name] != recorded["sha256"][name]:
            where = folder / (name if name != "png" else "*.png")
            raise ValueError(
                f"{where} changed after the split was built "
                "(its SHA-256 differs from the one in settings.json); remove the folder to rebuild it"
            )
    arrays = _parse_arrays(folder, blobs["arrays.npz"])
    frame, parsed = _parse_labels(
        folder, blobs["labels.csv"], recorded["items_per_image"], recorded["slot"]
    )
    if len(frame) != count or len(arrays["images"]) != count:
        raise ValueError(
            f"{folder}: settings say {count} composites, labels.csv has {len(frame)}, "
            f"arrays.npz {len(arrays['images'])}"
        )
    if list(frame["fname"]) != [png_name(i) for i in range(count)]:
        raise ValueError(
            f"{folder / 'labels.csv'}: its fname column must list 00000.png, 00001.png, ... in order"
        )
    for name, values in parsed.items():
        if not np.array_equal(values, arrays[name]):
            raise ValueError(f"{folder}: labels.csv and arrays.npz disagree on {name}")
    if check_pngs:
        for index, png in enumerate(pngs):
            with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
                if not np.array_equal(np.asarray(image), arrays["images"][index]):
                    raise ValueError(f"{folder / png_name(index)} differs from arrays.npz")
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

    The same ``seed`` gives byte-identical files; ``splits`` names which of
    ``train``, ``val``, ``test`` to write; ``items_per_image`` and
    ``variable_count`` are as in :func:`helpers.composite.compose`;
    ``progress`` wraps the loop over images. ``exist_ok`` leaves a split
    folder that exists (or that another process finishes first) as it is,
    instead of raising ``FileExistsError``. Returns the folder of each split.
    """
    settings = {
        split: settings_for(
            split, seed, items_per_image=items_per_image, variable_count=variable_count
        )
        for split in splits
    }
    check_output_folder(root, "root")
    existing = [Path(root) / split for split in settings if (Path(root) / split).exists()]
    if existing and not exist_ok:  # refuse before writing any split, not after the first ones
        raise _exists(existing[0])
    built = standard_splits(
        fashion.load(), seed, items_per_image=items_per_image, variable_count=variable_count
    )
    written = {}
    for split in settings:
        folder = Path(root) / split
        try:
            written[split] = save(built[split], folder, settings[split], progress)
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
    build_if_missing: bool | None = None,
    check_pngs: bool = False,
) -> dict[str, Composites]:
    """Load standard splits under ``root``; build missing ones only in the project's own data folder.

    The splits that exist are checked first; one built with other settings
    is refused, never rebuilt. ``check_pngs`` is passed to :func:`load`.

    Parameters
    ----------
    build_if_missing : bool or None
        None (the default): build a missing split only where ``root`` is
        :data:`DEFAULT_ROOT`, the folder every notebook and command shares;
        any other folder is given to be read, so a mistyped path is refused,
        never filled with a new dataset. True builds missing splits anywhere;
        False never.

    Returns
    -------
    dict
        ``{"train": Composites, "val": ..., "test": ...}``, or the ``splits`` asked for.

    Raises
    ------
    FileNotFoundError
        If a split is missing where none may be built: ``root`` does not
        exist, is a file, or lacks the split.
    """
    root = Path(root)
    wanted = [check_choice(split, "split", SPLIT_SIZES) for split in splits]
    expected = {
        split: settings_for(split, seed) for split in wanted
    }  # checks the seed, before anything is read or built
    if build_if_missing is None:
        build_if_missing = root.resolve() == DEFAULT_ROOT.resolve()
    missing = [split for split in wanted if not (root / split).exists()]
    if missing and not build_if_missing:
        raise _no_splits(root, missing)
    loaded = {
        split: load(root / split, expected[split], check_pngs=check_pngs)
        for split in wanted
        if split not in missing
    }
    if missing:
        build(root, seed, splits=missing, exist_ok=True)
        loaded |= {
            split: load(root / split, expected[split], check_pngs=check_pngs) for split in missing
        }
    return {split: loaded[split] for split in wanted}


def _no_splits(root: Path, missing: list[str]) -> FileNotFoundError:
    """The error for splits missing from a folder given to be read, saying what the folder is instead."""
    build = f"build it with `python -m helpers data --out {root}`"
    if not root.exists():
        problem = f"the folder does not exist (check the path, or {build})"
    elif not root.is_dir():
        problem = "it is a file, not a dataset folder"
    elif (root / "settings.json").is_file():
        problem = f"it is the folder of one split; give the folder above it, {root.parent}"
    else:
        problem = f"it lacks {', '.join(missing)}; {build}"
    return FileNotFoundError(f"no dataset at {root}: {problem}")
