"""Locate, verify and load the real Fashion-MNIST.

The four standard files are searched for, in order, in

1. the folder named by the environment variable ``FASHION_MNIST_DIR``;
2. the Keras cache (``$KERAS_HOME/datasets/fashion-mnist``, by default
   ``~/.keras/datasets/fashion-mnist``);
3. ``/usr/share/datasets/fashion-mnist``, where Debian's package
   ``dataset-fashion-mnist`` puts them;
4. a download through ``keras.datasets.fashion_mnist``.

Every file is checked against its SHA-256 before use. The verified files are
linked into the Keras cache and read by ``keras.datasets.fashion_mnist``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)

SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"

HOW_TO_PROVIDE = (
    "Provide the four standard Fashion-MNIST files in one of these ways:\n"
    f"  1. set {ENV_VAR} to a folder that holds them;\n"
    "  2. install Debian's package: apt-get install dataset-fashion-mnist "
    f"(puts them in {DEBIAN_DIR});\n"
    "  3. let Keras download them: keras.datasets.fashion_mnist.load_data() "
    "(needs a network)."
)

Split = tuple[np.ndarray, np.ndarray]


class FashionMNISTError(FileNotFoundError):
    """A Fashion-MNIST file is missing or does not match its SHA-256."""


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def problems(folder: Path) -> list[str]:
    """List what is missing or corrupt among the four files in ``folder``.

    Returns
    -------
    list of str
        One line per bad file, naming it with the expected and found hash;
        empty when all four files are present and correct.
    """
    found = []
    for name, expected in SHA256.items():
        path = Path(folder) / name
        if not path.is_file():
            found.append(f"{path}: missing (expected SHA-256 {expected})")
            continue
        actual = sha256(path)
        if actual != expected:
            found.append(f"{path}: corrupt: expected SHA-256 {expected}, found {actual}")
    return found


def keras_cache_dir() -> Path:
    """Return the folder where Keras keeps Fashion-MNIST."""
    from keras.src.backend.config import keras_home

    return Path(keras_home()) / "datasets" / "fashion-mnist"


def locate() -> Path | None:
    """Return the first folder holding the four verified files, or ``None``.

    Raises
    ------
    FashionMNISTError
        If ``FASHION_MNIST_DIR`` is set but a file there is missing or
        corrupt: an explicit choice never falls back silently.
    """
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        bad = problems(Path(chosen))
        if bad:
            raise FashionMNISTError(
                f"{ENV_VAR}={chosen} does not hold valid Fashion-MNIST files:\n  "
                + "\n  ".join(bad)
                + "\n"
                + HOW_TO_PROVIDE
            )
        return Path(chosen)
    for folder in (keras_cache_dir(), DEBIAN_DIR):
        if not problems(folder):
            return folder
    return None


def _link_into_keras_cache(folder: Path) -> None:
    """Make the Keras cache point at the verified files in ``folder``."""
    cache = keras_cache_dir()
    if cache.resolve() == folder.resolve():
        return
    cache.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        target = cache / name
        temporary = cache / f".{name}.tmp-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to((folder / name).resolve())
        os.replace(temporary, target)


def load() -> tuple[Split, Split]:
    """Load the real Fashion-MNIST, verified against its SHA-256 hashes.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28)
        and (10000,).

    Raises
    ------
    FashionMNISTError
        If no complete, correct set of files can be found or downloaded.
    """
    import keras

    folder = locate()
    if folder is not None:
        _link_into_keras_cache(folder)
    else:
        try:
            keras.datasets.fashion_mnist.load_data()
        except Exception as error:  # no network, or the download failed
            raise FashionMNISTError(
                "Fashion-MNIST was not found and could not be downloaded "
                f"({type(error).__name__}: {error}).\n" + HOW_TO_PROVIDE
            ) from error
        bad = problems(keras_cache_dir())
        if bad:
            raise FashionMNISTError(
                "The downloaded Fashion-MNIST files are corrupt:\n  "
                + "\n  ".join(bad)
                + "\n"
                + HOW_TO_PROVIDE
            )
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return (x_train, y_train), (x_test, y_test)
