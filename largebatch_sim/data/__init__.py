"""Data: embedded sets (synthetic, digits, MNIST-1D), file loaders, the device batch sampler.

Nothing downloads unless asked (``download=True``). Every loader returns a host ``Dataset``
of float32 (N, C, H, W) images; ``BatchSampler`` moves the training split to the device once
and gathers shuffled (E', B, ...) batches there.
"""

from .dataset import STANDARDIZE_MODES, Dataset
from .digits import load_digits
from .files import (
    RESOURCES,
    ChecksumError,
    download_files,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from .mnist1d import load_mnist1d
from .paths import cache_dir, data_dir
from .registry import DATASETS, GENERATED, load_dataset
from .sampler import BatchSampler
from .synthetic import (
    FreshSampler,
    MixtureProcess,
    TeacherProcess,
    gaussian_mixture,
    teacher_student,
)

__all__ = [
    "DATASETS",
    "GENERATED",
    "RESOURCES",
    "STANDARDIZE_MODES",
    "BatchSampler",
    "ChecksumError",
    "Dataset",
    "FreshSampler",
    "MixtureProcess",
    "TeacherProcess",
    "cache_dir",
    "data_dir",
    "download_files",
    "gaussian_mixture",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist1d",
    "read_idx",
    "teacher_student",
]
