"""Multi-label composites: several Fashion-MNIST products in a row.

A composite is a dark ``slot x (slot * items_per_image)`` greyscale canvas
with one product placed at a random offset inside each of its slots. Its
labels are the *set* of classes present (multi-hot over the 10 classes); the
ordered class ids, each product's box and its source image are kept too.

The standard splits never share a source image: the 60,000 Fashion-MNIST
training images are shuffled once and cut into a validation pool and a
training pool, and the test composites come from the Fashion-MNIST test split
only. Every random draw comes from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers._checks import check_canvases, check_choice, check_indices, check_scalar
from helpers.fashion import CLASS_NAMES, NUM_CLASSES

PRODUCT = 28  # side of a Fashion-MNIST image, in pixels
DEFAULT_SLOT = 32
DEFAULT_ITEMS = 4
SPLIT_SIZES = {"train": 9_000, "val": 1_000, "test": 1_000}
VAL_POOL = 6_000  # Fashion-MNIST training images reserved for validation
EMPTY = -1  # marks an empty slot in ``items``, ``sources`` and ``boxes``


@dataclass(frozen=True)
class Composites:
    """A batch of composites and everything known about them.

    Attributes
    ----------
    images : uint8 array (N, slot, slot * items_per_image)
    labels : uint8 array (N, 10), multi-hot set of the classes present
    items : int8 array (N, items_per_image), class id per slot, -1 if empty
    boxes : int16 array (N, items_per_image, 4), ``x0 y0 x1 y1`` per slot
        (x1, y1 exclusive), -1 if empty
    sources : int32 array (N, items_per_image), Fashion-MNIST index per slot,
        -1 if empty
    source_split : {"train", "test"}, the Fashion-MNIST split of the sources
    """

    images: np.ndarray
    labels: np.ndarray
    items: np.ndarray
    boxes: np.ndarray
    sources: np.ndarray
    source_split: str

    def __len__(self) -> int:
        return len(self.images)

    def take(self, indices) -> Composites:
        """The composites at ``indices``, in that order, with all they carry."""
        indices = check_indices(indices, "indices", len(self))
        rows = (self.images, self.labels, self.items, self.boxes, self.sources)
        return Composites(*(array[indices] for array in rows), self.source_split)

    def metadata(self) -> pd.DataFrame:
        """Return the metadata table, one row per composite (``labels.csv``)."""
        return metadata_frame(self)


def compose(
    images: np.ndarray,
    classes: np.ndarray,
    pool: np.ndarray,
    count: int,
    rng: np.random.Generator,
    *,
    items_per_image: int = DEFAULT_ITEMS,
    variable_count: bool = False,
    slot: int = DEFAULT_SLOT,
    source_split: str = "train",
) -> Composites:
    """Build ``count`` composites from distinct products of ``pool``.

    Parameters
    ----------
    images : uint8 array (M, 28, 28)
        Fashion-MNIST images of one split.
    classes : int array (M,)
        Their class ids.
    pool : int array
        Indices into ``images`` that may be used, each listed once; each is
        used at most once.
    count : int
        Number of composites, at least 0.
    rng : numpy.random.Generator
        Source of every random choice.
    items_per_image : int, default 4
        Slots per composite, 1 to 4.
    variable_count : bool, default False
        If True, each composite holds a random number of products, from 1 to
        ``items_per_image``, in randomly chosen slots; the rest stay dark.
    slot : int, default 32
        Side of a square slot in pixels, at least 28.
    source_split : {"train", "test"}
        Recorded as the Fashion-MNIST split the products come from.

    Returns
    -------
    Composites

    Raises
    ------
    ValueError
        For a bad count, item number, slot, split, image shape or dtype, class
        ids outside 0-9, a pool with repeated or out-of-range indices, or a
        pool too small to give every product once.
    """
    check_scalar(items_per_image, "items_per_image", low=1, high=4)
    check_scalar(slot, "slot", low=PRODUCT)
    check_scalar(count, "count", low=0)
    classes = _check_products(images, classes, source_split)
    pool = check_indices(pool, "pool", len(images), distinct=True)

    if variable_count:
        occupied = _random_occupancy(rng, count, items_per_image)
    else:
        occupied = np.ones((count, items_per_image), dtype=bool)
    needed = int(occupied.sum())
    if needed > len(pool):
        raise ValueError(
            f"{count} composites need {needed} distinct products but the pool holds {len(pool)}"
        )
    sources = np.full((count, items_per_image), EMPTY, dtype=np.int32)
    sources[occupied] = rng.choice(pool, size=needed, replace=False)
    offsets = np.zeros((count, items_per_image, 2), dtype=np.int64)
    offsets[occupied] = rng.integers(0, slot - PRODUCT + 1, size=(needed, 2))
    return place(images, classes, sources, offsets, slot=slot, source_split=source_split)


def place(
    images: np.ndarray,
    classes: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    *,
    slot: int = DEFAULT_SLOT,
    source_split: str = "train",
) -> Composites:
    """Put the given products at the given offsets of their slots: the canvases of :func:`compose`.

    Parameters
    ----------
    images, classes, slot, source_split
        As in :func:`compose`.
    sources : int array (N, items_per_image)
        Index into ``images`` of each slot's product, :data:`EMPTY` for a
        dark slot.
    offsets : int array (N, items_per_image, 2)
        ``dx, dy`` of each product inside its slot, from 0 to ``slot - 28``;
        ignored for empty slots.

    Returns
    -------
    Composites

    Raises
    ------
    ValueError
        For the bad inputs of :func:`compose`, sources that are not indices
        into ``images`` (or ``EMPTY``), or offsets of the wrong shape or range.
    """
    classes = _check_products(images, classes, source_split)
    check_scalar(slot, "slot", low=PRODUCT)
    sources = np.asarray(sources)
    if sources.ndim != 2 or not 1 <= sources.shape[1] <= 4:
        raise ValueError(
            f"sources must have shape (N, items_per_image) with 1 to 4 slots; got shape {sources.shape}"
        )
    check_indices(sources[sources != EMPTY], "sources", len(images))
    offsets = np.asarray(offsets)
    if offsets.shape != (*sources.shape, 2) or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError(
            f"offsets must be integers of shape {(*sources.shape, 2)}; got {offsets.dtype} {offsets.shape}"
        )
    placed = offsets[sources != EMPTY]
    if placed.size and (placed.min() < 0 or placed.max() > slot - PRODUCT):
        raise ValueError(
            f"offsets must be from 0 to {slot - PRODUCT} (slot - {PRODUCT}); "
            f"got values from {placed.min()} to {placed.max()}"
        )
    occupied = sources != EMPTY
    count, items_per_image = sources.shape
    chosen, offsets = sources[occupied], offsets[occupied]
    items = np.full((count, items_per_image), EMPTY, dtype=np.int8)
    items[occupied] = classes[chosen]

    slot_index = np.nonzero(occupied)[1]
    boxes = np.full((count, items_per_image, 4), EMPTY, dtype=np.int16)
    x0 = slot_index * slot + offsets[:, 0]
    y0 = offsets[:, 1]
    boxes[occupied] = np.stack([x0, y0, x0 + PRODUCT, y0 + PRODUCT], axis=1)

    tiles = np.zeros((count * items_per_image, slot, slot), dtype=np.uint8)
    tile_of_product = np.flatnonzero(occupied.ravel())
    for dx, dy in np.unique(offsets, axis=0):  # at most (slot - 27)^2 slices
        here = (offsets[:, 0] == dx) & (offsets[:, 1] == dy)
        tiles[tile_of_product[here], dy : dy + PRODUCT, dx : dx + PRODUCT] = images[chosen[here]]
    canvas = (
        tiles.reshape(count, items_per_image, slot, slot)
        .transpose(0, 2, 1, 3)
        .reshape(count, slot, slot * items_per_image)
    )

    labels = np.zeros((count, NUM_CLASSES), dtype=np.uint8)
    rows = np.nonzero(occupied)[0]
    labels[rows, items[occupied]] = 1
    return Composites(canvas, labels, items, boxes, sources.astype(np.int32), source_split)


def flip_products(images: np.ndarray, boxes: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """Return a copy of the canvases with the chosen products mirrored left-right inside their boxes.

    The standard Fashion-MNIST augmentation, product by product: labels and
    boxes stay as they are.

    Parameters
    ----------
    images : uint8 array (N, H, W)
        Canvases, such as :attr:`Composites.images`.
    boxes : int array (N, items_per_image, 4)
        Each product's ``x0, y0, x1, y1`` (:attr:`Composites.boxes`),
        :data:`EMPTY` for a dark slot.
    flipped : bool array (N, items_per_image)
        Which products to mirror; dark slots are left as they are.

    Returns
    -------
    uint8 array (N, H, W)

    Raises
    ------
    ValueError
        For canvases that are not uint8 (N, H, W), boxes that are not
        (N, slots, 4) or not each a whole product inside the canvas, or
        ``flipped`` that is not a bool per slot.
    """
    images = check_canvases(images, None, None, "images")
    boxes, flipped = np.asarray(boxes), np.asarray(flipped)
    if boxes.ndim != 3 or boxes.shape[::2] != (len(images), 4):
        raise ValueError(
            f"boxes must have shape ({len(images)}, slots, 4), one row per canvas; got {boxes.shape}"
        )
    present = boxes[boxes[..., 0] != EMPTY]
    height, width = images.shape[1:]
    whole = (present[:, 2:] - present[:, :2] == PRODUCT).all()
    if (
        not whole
        or present[:, :2].min(initial=0) < 0
        or present[:, 2].max(initial=0) > width
        or present[:, 3].max(initial=0) > height
    ):
        raise ValueError(
            f"boxes must each hold one {PRODUCT} x {PRODUCT} product inside the {height} x {width} canvas, "
            "as Composites.boxes do"
        )
    if flipped.dtype != bool or flipped.shape != boxes.shape[:2]:
        raise ValueError(
            f"flipped must be a bool array of shape {boxes.shape[:2]} (one per slot); "
            f"got {flipped.dtype} {flipped.shape}"
        )
    chosen = flipped & (boxes[..., 0] != EMPTY)
    rows, corners = np.nonzero(chosen)[0], boxes[chosen][:, :2]
    result = np.array(images, copy=True)
    for x0, y0 in np.unique(corners, axis=0):  # slices, as in place(): a few hundred at most
        here = rows[(corners[:, 0] == x0) & (corners[:, 1] == y0)]
        box = (here, slice(y0, y0 + PRODUCT), slice(x0, x0 + PRODUCT))
        result[box] = result[box][..., ::-1]
    return result


def blank_slots(
    image: np.ndarray, slots: np.ndarray | list[int], slot: int = DEFAULT_SLOT
) -> np.ndarray:
    """Return a copy of one canvas (H, W) with the given slots (0 = leftmost) set to the dark background, 0."""
    if np.ndim(image) != 2:
        raise ValueError(f"image must be one canvas of shape (H, W); got shape {np.shape(image)}")
    slots = check_indices(slots, "slots", np.shape(image)[1] // slot)
    covered = np.array(image, copy=True)
    for s in slots:
        covered[:, s * slot : (s + 1) * slot] = 0
    return covered


def _check_products(images: np.ndarray, classes: np.ndarray, source_split: str) -> np.ndarray:
    """Check the Fashion-MNIST images, their class ids and the split named; return the ids as an array."""
    check_choice(source_split, "source_split", ("train", "test"))
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (PRODUCT, PRODUCT):
        raise ValueError(
            f"images must be uint8 of shape (M, {PRODUCT}, {PRODUCT}); "
            f"got {images.dtype} {images.shape}"
        )
    classes = np.asarray(classes)
    if classes.shape != images.shape[:1] or not np.issubdtype(classes.dtype, np.integer):
        raise ValueError(
            f"classes must be one integer class id per image, shape ({len(images)},); "
            f"got {classes.dtype} {classes.shape}"
        )
    if classes.size and (classes.min() < 0 or classes.max() >= NUM_CLASSES):
        raise ValueError(
            f"classes must be class ids from 0 to {NUM_CLASSES - 1}; got values from {classes.min()} to {classes.max()}"
        )
    return classes


def _random_occupancy(rng: np.random.Generator, count: int, items_per_image: int) -> np.ndarray:
    """Choose 1..items_per_image occupied slots per composite, uniformly."""
    filled = rng.integers(1, items_per_image + 1, size=count)
    order = np.argsort(rng.random((count, items_per_image)), axis=1)
    return order < filled[:, None]


def source_pools(seed: int) -> dict[str, np.ndarray]:
    """Return the disjoint pools of Fashion-MNIST indices each split draws from.

    The 60,000 training images are shuffled with ``seed``; the first 6,000
    form the validation pool, the other 54,000 the training pool (also the
    pool that fresh composites are drawn from during training). The test pool
    is the whole Fashion-MNIST test split.
    """
    permutation = np.random.default_rng([seed, 0]).permutation(60_000)
    return {
        "train": np.sort(permutation[VAL_POOL:]),
        "val": np.sort(permutation[:VAL_POOL]),
        "test": np.arange(10_000),
    }


def standard_splits(
    fashion: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    seed: int = 0,
    *,
    items_per_image: int = DEFAULT_ITEMS,
    variable_count: bool = False,
    sizes: dict[str, int] | None = None,
) -> dict[str, Composites]:
    """Build the leak-free train, val and test composites.

    Parameters
    ----------
    fashion : ((x_train, y_train), (x_test, y_test))
        The real Fashion-MNIST, as returned by :func:`helpers.fashion.load`.
    seed : int
        The same seed gives byte-identical composites.
    items_per_image, variable_count
        As in :func:`compose`.
    sizes : dict, optional
        Composites per split; default 9,000 / 1,000 / 1,000.

    Returns
    -------
    dict
        ``{"train": Composites, "val": Composites, "test": Composites}``.
    """
    sizes = dict(SPLIT_SIZES if sizes is None else sizes)
    if set(sizes) != set(SPLIT_SIZES):
        raise ValueError(f"sizes must name the splits {sorted(SPLIT_SIZES)}; got {sorted(sizes)}")
    (x_train, y_train), (x_test, y_test) = fashion
    pools = source_pools(seed)
    generators = dict(zip(SPLIT_SIZES, np.random.default_rng([seed, 1]).spawn(3), strict=True))
    splits = {}
    for split, count in sizes.items():
        x, y = (x_test, y_test) if split == "test" else (x_train, y_train)
        splits[split] = compose(
            x,
            y,
            pools[split],
            count,
            generators[split],
            items_per_image=items_per_image,
            variable_count=variable_count,
            source_split="test" if split == "test" else "train",
        )
    return splits


def _join(values: np.ndarray, separator: str = " ") -> str:
    return separator.join(str(v) for v in values)


def metadata_frame(composites: Composites) -> pd.DataFrame:
    """Return the ``labels.csv`` table of ``composites``.

    Columns: ``fname, items, names, boxes, source_split, source_index``,
    then one 0/1 column per class, named by the class.
    """
    rows = []
    for index, (items, boxes, sources) in enumerate(
        zip(composites.items, composites.boxes, composites.sources, strict=True)
    ):
        present = items != EMPTY
        rows.append(
            {
                "fname": f"{index:05d}.png",
                "items": _join(items[present]),
                "names": "|".join(CLASS_NAMES[i] for i in items[present]),
                "boxes": ";".join(_join(box) for box in boxes[present]),
                "source_split": composites.source_split,
                "source_index": _join(sources[present]),
            }
        )
    frame = pd.DataFrame(
        rows, columns=["fname", "items", "names", "boxes", "source_split", "source_index"]
    )
    classes = pd.DataFrame(composites.labels.astype(np.int64), columns=list(CLASS_NAMES))
    return pd.concat([frame, classes], axis=1)


def parse_metadata(
    frame: pd.DataFrame, items_per_image: int, slot: int = DEFAULT_SLOT
) -> dict[str, np.ndarray]:
    """Turn a ``labels.csv`` table back into padded ``items``, ``boxes``, ``sources``, ``labels``."""
    count = len(frame)
    items = np.full((count, items_per_image), EMPTY, dtype=np.int8)
    boxes = np.full((count, items_per_image, 4), EMPTY, dtype=np.int16)
    sources = np.full((count, items_per_image), EMPTY, dtype=np.int32)
    for row, (item_text, box_text, source_text) in enumerate(
        zip(frame["items"], frame["boxes"], frame["source_index"], strict=True)
    ):
        ids = [int(v) for v in str(item_text).split()]
        row_boxes = [[int(v) for v in box.split()] for box in str(box_text).split(";")]
        slots = [box[0] // slot for box in row_boxes]
        items[row, slots] = ids
        boxes[row, slots] = row_boxes
        sources[row, slots] = [int(v) for v in str(source_text).split()]
    labels = frame[list(CLASS_NAMES)].to_numpy(dtype=np.uint8)
    return {"items": items, "boxes": boxes, "sources": sources, "labels": labels}
