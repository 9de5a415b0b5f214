import gzip
import hashlib
import io
import pickle
import random
import tarfile
import urllib.request

import numpy as np
import pytest

from largebatch_sim import backend
from largebatch_sim.data import (
    DATASETS,
    BatchSampler,
    ChecksumError,
    Dataset,
    FreshSampler,
    TeacherProcess,
    files,
    gaussian_mixture,
    load_cifar10,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    read_idx,
    teacher_student,
)
from largebatch_sim.data import mnist1d as mnist1d_module

# ---------------------------------------------------------------- Dataset


def _tiny(n=6, m=3, classes=3):
    x = np.zeros((n, 1, 2, 2), np.float64)
    return Dataset(
        "tiny", x, np.arange(n) % classes, x[:m], np.arange(m) % classes, classes, (1, 2, 2)
    )


def test_dataset_converts_dtypes_and_is_read_only():
    data = _tiny()
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    with pytest.raises(ValueError):
        data.x_train[0] = 1.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y_train": np.zeros(5, int)}, "y_train has 5"),
        ({"y_test": np.array([0, 1, 3])}, r"\[0, 3\)"),
        ({"x_train": np.zeros((6, 1, 2, 2), np.uint8)}, "floating-point"),
        ({"x_test": np.zeros((3, 1, 2, 3))}, "x_test must have shape"),
        ({"y_train": np.zeros(6)}, "integer labels"),
        ({"classes": 1}, "classes"),
        ({"in_shape": (2, 2)}, "in_shape"),
    ],
)
def test_dataset_validation(change, message):
    x = np.zeros((6, 1, 2, 2))
    args = dict(x_train=x, y_train=np.zeros(6, int), x_test=x[:3], y_test=np.zeros(3, int))
    args |= dict(classes=3, in_shape=(1, 2, 2)) | change
    with pytest.raises(ValueError, match=message):
        Dataset("tiny", **args)


@pytest.mark.parametrize(
    "mode, axes", [("feature", (0,)), ("channel", (0, 2, 3)), ("global", None)]
)
def test_standardize_uses_training_statistics(mode, axes):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (50, 2, 3, 3))
    x[:, 0, 0, 0] = 5.0  # a constant feature is only centred
    data = Dataset("d", x, np.zeros(50, int), x[:7] + 1, np.zeros(7, int), 2, (2, 3, 3))
    out = data.standardize(mode)
    assert out.x_train.dtype == np.float32
    np.testing.assert_allclose(out.x_train.mean(axis=axes), 0, atol=1e-5)
    if mode != "feature":
        np.testing.assert_allclose(out.x_train.std(axis=axes), 1, atol=1e-4)
    std = data.x_train.astype(np.float64).std(axis=axes, keepdims=True)
    expected = (data.x_test - data.x_train.mean(axis=axes, keepdims=True)) / np.where(
        std < 1e-8, 1, std
    )
    np.testing.assert_allclose(out.x_test, expected, atol=1e-4)
    with pytest.raises(ValueError, match="mode"):
        data.standardize("pixel")


# ---------------------------------------------------------------- embedded sets


def test_digits():
    data = load_digits()
    assert (data.n_train, data.n_test, data.classes, data.in_shape) == (1437, 360, 10, (1, 8, 8))
    assert data.x_train.shape == (1437, 1, 8, 8) and data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int64 and set(np.unique(data.y_train)) == set(range(10))
    assert abs(data.x_train.mean()) < 1e-5 and abs(data.x_train.std() - 1) < 1e-4
    np.testing.assert_array_equal(load_digits().x_test, data.x_test)
    assert not np.array_equal(load_digits(seed=1).y_test, data.y_test)
    raw = load_digits(standardize=None)
    assert raw.x_train.min() == 0 and raw.x_train.max() == 1


def test_mnist1d_generates_restores_global_state_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    np.random.seed(123)  # noqa: NPY002 (the legacy global state is what is checked)
    random.seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    data = load_mnist1d(num_samples=1000, seed=0)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:] and random.getstate() == py_state
    assert data.x_train.shape == (800, 1, 1, 40) and data.x_test.shape == (200, 1, 1, 40)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert (data.classes, data.in_shape) == (10, (1, 1, 40))
    cached = list((tmp_path / "mnist1d").glob("*.npz"))
    assert len(cached) == 1

    def no_generation(*args):
        raise AssertionError("the second call must read the cache")

    with monkeypatch.context() as m:
        m.setattr(mnist1d_module, "_generate", no_generation)
        again = load_mnist1d(num_samples=1000, seed=0)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(data, name))
    cached[0].write_bytes(b"damaged")  # a damaged cache file is regenerated
    np.testing.assert_array_equal(load_mnist1d(num_samples=1000, seed=0).x_test, data.x_test)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_samples": 1005}, "num_samples"),
        ({"num_samples": 0}, "num_samples"),
        ({"train_split": 1.0}, "train_split"),
        ({"seed": -1}, "seed"),
    ],
)
def test_mnist1d_bad_arguments(kwargs, message, tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        load_mnist1d(**kwargs)


def test_teacher_student():
    data = teacher_student(n_train=600, n_test=100, dim=16, classes=4, seed=1)
    assert data.x_train.shape == (600, 1, 1, 16) and data.in_shape == (1, 1, 16)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert np.bincount(data.y_train, minlength=4).min() > 100  # balanced classes
    again = teacher_student(n_train=600, n_test=100, dim=16, classes=4, seed=1)
    np.testing.assert_array_equal(again.x_train, data.x_train)
    linear = teacher_student(n_train=50, n_test=10, dim=8, classes=3, hidden=0, noise=0.1)
    assert linear.n_train == 50
    regression = teacher_student(n_train=50, n_test=10, classes=0)
    assert regression.classes == 0 and regression.y_train.dtype == np.float32
    with pytest.raises(ValueError, match="classes"):
        teacher_student(classes=1)
    with pytest.raises(ValueError, match="n_train"):
        teacher_student(n_train=0)


def test_gaussian_mixture():
    data = gaussian_mixture(n_train=300, n_test=50, dim=5, classes=3, seed=2)
    assert data.x_train.shape == (300, 1, 1, 5) and data.y_test.shape == (50,)
    assert set(np.unique(data.y_train)) == {0, 1, 2}
    with pytest.raises(ValueError, match="separation"):
        gaussian_mixture(separation=-1.0)


def test_fresh_sampler():
    process = TeacherProcess(dim=6, classes=3, hidden=8, seed=0)
    shared = FreshSampler(process, batch_size=5, seeds=[4, 4])
    x1, y1 = shared.next()
    x2, _ = shared.next()
    assert x1.shape == (1, 5, 1, 1, 6) and y1.shape == (1, 5) and shared.rows == 1
    assert not np.array_equal(x1, x2)  # a new batch every step
    members = FreshSampler(process, batch_size=5, seeds=[4, 7])
    x, y = members.next()
    assert x.shape == (2, 5, 1, 1, 6)
    np.testing.assert_array_equal(x[0], x1[0])  # a member sees what it sees alone
    assert not np.array_equal(x[0], x[1])
    np.testing.assert_array_equal(y[0], (process.teacher(x[0, :, 0, 0]) + process.bias).argmax(1))
    with pytest.raises(ValueError, match="batch_size"):
        FreshSampler(process, batch_size=0)


# ---------------------------------------------------------------- file loaders


def _idx_bytes(a):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[a.dtype], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def _idx_set(rng, n_train=7, n_test=3, h=5, w=4):
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def _write_idx(folder, arrays, gz):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        raw = _idx_bytes(a)
        (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_idx_loader(tmp_path, gz, loader, no_network):
    arrays = _idx_set(np.random.default_rng(0))
    _write_idx(tmp_path, arrays, gz)
    data = loader(tmp_path, standardize=None)
    assert data.x_train.shape == (7, 1, 5, 4) and data.x_test.shape == (3, 1, 5, 4)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_allclose(
        data.x_train[:, 0], arrays["train-images-idx3-ubyte"] / 255, rtol=1e-6
    )
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert abs(loader(tmp_path).x_train.mean()) < 1e-5  # standardised by default


def test_read_idx_types_and_damage(tmp_path):
    a = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)
    (tmp_path / "b").write_bytes(_idx_bytes(a)[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "b")
    (tmp_path / "c").write_bytes(b"\x50\x4b\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "c")


def _cifar_batch(rng, n):
    return {
        b"batch_label": b"batch",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
    }


def _write_cifar(folder, rng):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [*files.CIFAR_TRAIN, files.CIFAR_TEST]:
        batches[name] = _cifar_batch(rng, 2)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    return batches


def test_cifar_loader(tmp_path, no_network):
    batches = _write_cifar(tmp_path / files.CIFAR_FOLDER, np.random.default_rng(0))
    data = load_cifar10(tmp_path, standardize=None)
    assert data.x_train.shape == (10, 3, 32, 32) and data.x_test.shape == (2, 3, 32, 32)
    assert data.y_train.dtype == np.int64 and data.in_shape == (3, 32, 32)
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_allclose(
        data.x_train[0, 1, 0, :], first[1024:1056] / 255, rtol=1e-6
    )  # green row 0
    assert list(data.y_test) == batches["test_batch"][b"labels"]
    # the folder of pickles itself is accepted too
    assert load_cifar10(tmp_path / files.CIFAR_FOLDER).n_train == 10


def test_cifar_refuses_pickles_with_code(tmp_path):
    _write_cifar(tmp_path, np.random.default_rng(0))
    evil = pickle.dumps({b"data": print, b"labels": []})  # any global other than NumPy's
    (tmp_path / "test_batch").write_bytes(evil)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist, load_cifar10])
def test_missing_files_never_download_by_default(tmp_path, loader, no_network):
    with pytest.raises(FileNotFoundError) as error:
        loader(tmp_path / "nothing")
    message = str(error.value)
    assert str(tmp_path / "nothing") in message and "download=True" in message
    assert "--download" in message and (
        "t10k-images-idx3-ubyte" in message or "test_batch" in message
    )


def test_registry_file_sets_use_default_folder(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("LBSIM_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_dataset("fashion_mnist", seed=0)
    _write_idx(tmp_path / "mnist", _idx_set(np.random.default_rng(1)), gz=True)
    assert load_dataset("mnist", seed=3).n_train == 7


def _serve(monkeypatch, contents, calls):
    def urlopen(url, timeout=None):
        calls.append(url)
        return io.BytesIO(contents[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def test_download_checks_md5_and_then_loads(tmp_path, monkeypatch):
    contents = {
        stem + ".gz": gzip.compress(_idx_bytes(a))
        for stem, a in _idx_set(np.random.default_rng(2)).items()
    }
    spec = {
        "mirrors": ("https://example.invalid/",),
        "files": {name: hashlib.md5(c).hexdigest() for name, c in contents.items()},
    }
    monkeypatch.setitem(files.RESOURCES, "mnist", spec)
    calls = []
    _serve(monkeypatch, contents, calls)
    data = load_mnist(tmp_path / "m", download=True)
    assert data.n_train == 7 and len(calls) == 4
    load_mnist(tmp_path / "m", download=True)  # files present: nothing fetched again
    assert len(calls) == 4


def test_download_cifar_archive(tmp_path, monkeypatch):
    source = tmp_path / "src"
    _write_cifar(source / files.CIFAR_FOLDER, np.random.default_rng(3))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(source / files.CIFAR_FOLDER, arcname=files.CIFAR_FOLDER)
    contents = {files.CIFAR_ARCHIVE: buffer.getvalue()}
    spec = {
        "mirrors": ("https://example.invalid/",),
        "files": {files.CIFAR_ARCHIVE: hashlib.md5(buffer.getvalue()).hexdigest()},
    }
    monkeypatch.setitem(files.RESOURCES, "cifar10", spec)
    _serve(monkeypatch, contents, [])
    assert load_cifar10(tmp_path / "c", download=True).n_test == 2


def test_checksum_mismatch_raises_and_keeps_nothing(tmp_path, monkeypatch):
    contents = {name: b"not the real file" for name in files.RESOURCES["mnist"]["files"]}
    calls = []
    _serve(monkeypatch, contents, calls)
    with pytest.raises(ChecksumError, match="MD5"):
        load_mnist(tmp_path, download=True)
    assert len(calls) == len(files.RESOURCES["mnist"]["mirrors"])  # every mirror tried once
    assert list(tmp_path.iterdir()) == []


def test_known_checksums_are_md5_hex():
    for spec in files.RESOURCES.values():
        for md5 in spec["files"].values():
            assert len(md5) == 32 and int(md5, 16) >= 0


# ---------------------------------------------------------------- registry


def test_registry():
    assert DATASETS == (
        "digits",
        "mnist1d",
        "teacher_student",
        "gaussian_mixture",
        "mnist",
        "fashion_mnist",
        "cifar10",
    )
    with pytest.raises(ValueError, match="accepted: digits, mnist1d"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="num_samples"):
        load_dataset("digits", num_samples=100)
    data = load_dataset("teacher_student", num_samples=100, seed=0, dim=4)
    assert (data.n_train, data.n_test, data.in_shape) == (80, 20, (1, 1, 4))
    assert load_dataset("digits", seed=0).n_train == 1437
    assert load_dataset("gaussian_mixture", num_samples=50).n_test == 10


# ---------------------------------------------------------------- BatchSampler


def _index_data(n):
    return np.arange(n, dtype=np.float32)[:, None], np.arange(n)


def test_each_epoch_is_a_permutation_and_follows_the_seed():
    x, y = _index_data(12)
    sampler = BatchSampler(x, y, batch_size=4, seeds=5)
    assert sampler.steps_per_epoch == 3 and sampler.rows == 1
    rng = np.random.default_rng(5)
    for epoch in range(3):
        assert sampler.epoch == epoch
        batches = [sampler.next() for _ in range(3)]
        for xb, yb in batches:
            assert xb.shape == (1, 4, 1) and yb.shape == (1, 4)
            np.testing.assert_array_equal(xb[..., 0], yb)
        order = np.concatenate([yb[0] for _, yb in batches])
        np.testing.assert_array_equal(order, rng.permutation(12))
    assert sampler.epoch == 3 and sampler.step == 9


def test_equal_seeds_share_one_row_and_different_seeds_differ():
    x, y = _index_data(20)
    shared = BatchSampler(x, y, batch_size=5, seeds=[3, 3, 3])
    assert shared.rows == 1 and shared.ensemble == 3 and shared.next()[1].shape == (1, 5)
    mixed = BatchSampler(x, y, batch_size=5, seeds=[3, 8, 3])
    alone = BatchSampler(x, y, batch_size=5, seeds=8)
    for _ in range(9):  # across epoch boundaries
        _, yb = mixed.next()
        assert yb.shape == (3, 5)
        np.testing.assert_array_equal(yb[0], yb[2])
        np.testing.assert_array_equal(yb[1], alone.next()[1][0])
    assert not np.array_equal(yb[0], yb[1])


def test_epoch_boundaries_with_and_without_drop_last():
    x, y = _index_data(10)
    dropping = BatchSampler(x, y, batch_size=4, seeds=0)
    assert dropping.steps_per_epoch == 2
    first = np.concatenate([dropping.next()[1][0] for _ in range(2)])
    second = np.concatenate([dropping.next()[1][0] for _ in range(2)])
    assert len(set(first)) == 8 and len(set(second)) == 8 and dropping.epoch == 2
    assert not np.array_equal(first, second)  # a new shuffle each epoch
    keeping = BatchSampler(x, y, batch_size=4, seeds=0, drop_last=False)
    assert keeping.steps_per_epoch == 3
    batches = [keeping.next()[1] for _ in range(3)]
    assert [b.shape[1] for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate([b[0] for b in batches])) == list(range(10))
    assert keeping.next()[1].shape == (1, 4) and keeping.epoch == 1
    assert next(iter(keeping))[1].shape == (1, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 11}, r"batch_size \(11\) exceeds the 10 examples"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 2, "seeds": []}, "seeds"),
        ({"batch_size": 2, "seeds": [-1]}, "seeds"),
    ],
)
def test_sampler_bad_arguments(kwargs, message):
    x, y = _index_data(10)
    with pytest.raises(ValueError, match=message):
        BatchSampler(x, y, **kwargs)


def test_sampler_gathers_images():
    data = load_digits()
    sampler = BatchSampler(data.x_train, data.y_train, 64, seeds=[0, 1])
    xb, yb = sampler.next()
    assert xb.shape == (2, 64, 1, 8, 8) and xb.dtype == np.float32 and yb.dtype == np.int64
    order = np.random.default_rng(1).permutation(data.n_train)[:64]
    np.testing.assert_array_equal(backend.to_host(xb[1]), data.x_train[order])


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a GPU")
def test_sampler_on_the_device_matches_the_host(on_backend):
    x, y = _index_data(50)
    with on_backend("numpy"):  # the suite may run with LBSIM_BACKEND=cupy
        _, host_y = BatchSampler(x, y, 8, seeds=[1, 2]).next()
    with on_backend("cupy"):
        xb, yb = BatchSampler(x, y, 8, seeds=[1, 2]).next()
        assert type(xb).__module__.startswith("cupy")
        np.testing.assert_array_equal(backend.to_host(yb), host_y)
