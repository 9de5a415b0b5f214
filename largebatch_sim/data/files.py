"""MNIST, Fashion-MNIST and CIFAR-10 from files the user has; downloads only when asked.

Files are looked for in ``root`` (default ``data_dir(name)``: ``$LBSIM_DATA/<name>`` or
``<cache_dir>/data/<name>``):

- MNIST, Fashion-MNIST: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``, as
  distributed) or not;
- CIFAR-10: the python pickles ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, in
  ``root/cifar-10-batches-py/`` (as the archive unpacks) or in ``root`` itself.

Nothing is downloaded unless ``download=True`` (``--download`` on the command line); then the
missing files are fetched with ``urllib`` from the official locations, their MD5 checked
against ``RESOURCES`` (the values published by torchvision for the same files), and
moved into place only when they match. CIFAR pickles are read with an unpickler that accepts
nothing but NumPy arrays, lists and strings.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import STANDARDIZE_MODES, Dataset
from .paths import data_dir

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"

# What download=True fetches: mirrors (tried in order) and {file name: MD5}. The MD5 values are
# those of torchvision.datasets (MNIST.resources, FashionMNIST.resources, CIFAR10.tgz_md5).
RESOURCES: dict[str, dict[str, Any]] = {
    "mnist": {
        "mirrors": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        "files": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion_mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "files": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
    "cifar10": {
        "mirrors": ("https://www.cs.toronto.edu/~kriz/",),
        "files": {CIFAR_ARCHIVE: "c58f30108f718f92721af3b95e74349a"},
    },
}
FILE_SETS = tuple(RESOURCES)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ChecksumError(RuntimeError):
    """A downloaded file's checksum differs from the published one."""


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(path: Path) -> io.BufferedIOBase:
    """The file, decompressed when it is gzipped (told by its magic bytes, not its name)."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format; gzipped or not) as a NumPy array of its stored type.

    Header: two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions d, then d
    big-endian uint32 sizes; the values follow, big-endian.
    """
    path = Path(path)
    with _open(path) as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: the header says shape {shape} ({expected} bytes) but the file has "
            f"{len(raw)} bytes (truncated or damaged?)"
        )
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _root(name: str, root: str | Path | None) -> Path:
    return Path(root).expanduser() if root is not None else data_dir(name)


def _missing_error(name: str, root: Path, expected: list[str]) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name}: the files {expected} were not found in {root}. Put them there (or pass "
        f"root=/your/folder), or let the library fetch them with download=True (on the command "
        f"line: --download); nothing is downloaded unless asked."
    )


def _fetch(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target`` through a temporary file, which is kept only if its MD5
    is ``md5``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        got = file_md5(tmp)
        if got != md5:
            raise ChecksumError(f"{url}: MD5 {got} differs from the published {md5}")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def download_files(name: str, root: str | Path | None = None) -> Path:
    """Fetch the files of ``name`` (``mnist``, ``fashion_mnist``, ``cifar10``) that ``root``
    lacks, check their MD5, and (CIFAR-10) unpack the archive. Returns the folder."""
    if name not in RESOURCES:
        raise ValueError(f"name must be one of {FILE_SETS}, got {name!r}")
    folder = _root(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    spec = RESOURCES[name]
    if name == "cifar10" and _cifar_folder(folder) is not None:
        return folder  # unpacked already: the archive is not needed
    for filename, md5 in spec["files"].items():
        target = folder / filename
        if target.exists() or target.with_suffix("").exists():  # also an unzipped IDX file
            continue
        errors = []
        for mirror in spec["mirrors"]:
            try:
                _fetch(mirror + filename, target, md5)
                break
            except (urllib.error.URLError, OSError, ChecksumError) as error:
                errors.append(error)
        else:
            if any(isinstance(e, ChecksumError) for e in errors):
                raise ChecksumError(f"{name}: no mirror gave a valid {filename}: {errors}")
            raise OSError(f"{name}: could not download {filename}: {errors}") from errors[-1]
    if name == "cifar10" and not (folder / CIFAR_FOLDER / CIFAR_TEST).exists():
        with tarfile.open(folder / CIFAR_ARCHIVE, "r:gz") as archive:
            archive.extractall(folder, filter="data")
    return folder


def _idx_paths(root: Path) -> dict[str, Path] | None:
    paths = {}
    for key, stem in IDX_FILES.items():
        found = [root / (stem + ext) for ext in ("", ".gz") if (root / (stem + ext)).exists()]
        if not found:
            return None
        paths[key] = found[0]
    return paths


def _check_standardize(standardize: str | None) -> None:
    if standardize is not None and standardize not in STANDARDIZE_MODES:
        raise ValueError(
            f"standardize must be one of {STANDARDIZE_MODES} or None, got {standardize!r}"
        )


def load_idx_images(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    standardize: str | None = "global",
) -> Dataset:
    """MNIST or Fashion-MNIST (``name``) from IDX files in ``root``: (N, 1, 28, 28), pixel
    values scaled to [0, 1], then standardised with the training statistics (``global`` by
    default, or ``channel``, ``feature``, None). 60000 training and 10000 test images."""
    if name not in ("mnist", "fashion_mnist"):
        raise ValueError(f"name must be 'mnist' or 'fashion_mnist', got {name!r}")
    _check_standardize(standardize)
    folder = _root(name, root)
    paths = _idx_paths(folder)
    if paths is None and download:
        download_files(name, folder)
        paths = _idx_paths(folder)
    if paths is None:
        raise _missing_error(name, folder, [f"{stem}[.gz]" for stem in IDX_FILES.values()])
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images = arrays[f"{split}_images"]
        if images.ndim != 3:
            raise ValueError(
                f"{paths[f'{split}_images']}: expected (N, H, W) images, got {images.shape}"
            )
        arrays[f"{split}_images"] = (images.astype(np.float32) / 255.0)[:, None]
    h, w = arrays["train_images"].shape[2:]
    data = Dataset(
        name,
        arrays["train_images"],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"],
        arrays["test_labels"].astype(np.int64),
        10,
        (1, h, w),
    )
    return data if standardize is None else data.standardize(standardize)


def load_mnist(
    root: str | Path | None = None, download: bool = False, standardize: str | None = "global"
) -> Dataset:
    """MNIST from IDX files; see ``load_idx_images``."""
    return load_idx_images("mnist", root, download, standardize)


def load_fashion_mnist(
    root: str | Path | None = None, download: bool = False, standardize: str | None = "global"
) -> Dataset:
    """Fashion-MNIST from IDX files; see ``load_idx_images``."""
    return load_idx_images("fashion_mnist", root, download, standardize)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers, refuses every other global (a pickle can
    otherwise run arbitrary code)."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = _ArrayUnpickler(f, encoding="bytes").load()
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 batch (keys {sorted(batch)})")
    x = np.asarray(batch["data"], dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: expected data of shape (N, 3072), got {x.shape}")
    return x.reshape(-1, 3, 32, 32), np.asarray(batch["labels"], dtype=np.int64)


def _cifar_folder(root: Path) -> Path | None:
    for folder in (root / CIFAR_FOLDER, root):
        if all((folder / f).exists() for f in (*CIFAR_TRAIN, CIFAR_TEST)):
            return folder
    return None


def load_cifar10(
    root: str | Path | None = None, download: bool = False, standardize: str | None = "channel"
) -> Dataset:
    """CIFAR-10 from the python pickles: (N, 3, 32, 32), 50000 training and 10000 test images,
    pixel values scaled to [0, 1], then standardised with the training statistics (per
    ``channel`` by default, or ``global``, ``feature``, None)."""
    _check_standardize(standardize)
    root = _root("cifar10", root)
    folder = _cifar_folder(root)
    if folder is None and download:
        download_files("cifar10", root)
        folder = _cifar_folder(root)
    if folder is None:
        raise _missing_error(
            "cifar10", root, [f"{CIFAR_FOLDER}/{f}" for f in (*CIFAR_TRAIN, CIFAR_TEST)]
        )
    train = [_read_cifar_batch(folder / f) for f in CIFAR_TRAIN]
    x_test, y_test = _read_cifar_batch(folder / CIFAR_TEST)
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    data = Dataset(
        "cifar10",
        x_train.astype(np.float32) / 255.0,
        y_train,
        x_test.astype(np.float32) / 255.0,
        y_test,
        10,
        (3, 32, 32),
    )
    return data if standardize is None else data.standardize(standardize)
