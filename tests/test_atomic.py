import pytest

from largebatch_sim.atomic import atomic_write, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    path = atomic_write_text(tmp_path / "a" / "f.txt", "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "f.txt", "old")

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
