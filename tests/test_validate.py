"""The argument checks themselves: each accepts the good, in canonical form, and refuses the bad
with a ``ParameterError`` that names the parameter."""

import math
import os

import numpy as np
import pytest

from largebatch_sim.validate import (
    ParameterError,
    check_bool,
    check_callable,
    check_choice,
    check_folder,
    check_integer,
    check_number,
    check_output_dir,
    check_output_path,
    check_sequence,
    check_string,
    within,
)


def refused(check, *args, name="x", **kwargs) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        check(name, *args, **kwargs)
    assert caught.value.parameter == name or caught.value.parameter.startswith(name + "[")
    assert str(caught.value).startswith(caught.value.parameter + " must be")
    return caught.value


def test_parameter_error_is_a_value_error_naming_parameter_value_and_allowed():
    error = ParameterError("lr", float("nan"), "a finite number >= 0")
    assert isinstance(error, ValueError)
    assert error.parameter == "lr"
    assert str(error) == "lr must be a finite number >= 0, got nan"


@pytest.mark.parametrize(
    ("value", "bounds"),
    [(0.5, {}), (0, dict(low=0)), (np.float32(0.25), dict(low=0, high=1, high_open=True))],
)
def test_check_number_accepts(value, bounds):
    checked = check_number("x", value, **bounds)
    assert checked == value and type(checked) is float


@pytest.mark.parametrize(
    ("value", "bounds", "allowed"),
    [
        (float("nan"), {}, "a finite number,"),
        (math.inf, dict(low=0), "a finite number >= 0"),
        (-1e-9, dict(low=0), ">= 0"),
        (0.0, dict(low=0, low_open=True), "> 0"),
        (1.0, dict(low=0, high=1, high_open=True), "in [0, 1)"),
        (2.0, dict(high=1), "<= 1"),
        ("0.5", {}, "a finite number"),
        (True, {}, "a finite number"),
        (None, {}, "a finite number"),
        (np.array(0.5), {}, "a finite number"),  # an array, possibly on a device: not read
    ],
)
def test_check_number_refuses(value, bounds, allowed):
    assert allowed in str(refused(check_number, value, **bounds))


def test_check_integer():
    assert check_integer("n", np.int64(3), low=1) == 3
    assert type(check_integer("n", np.int64(3))) is int
    assert check_integer("n", 5, low=1, high=5) == 5
    for bad in (0, 2.0, "3", True, None, 6):
        assert "an integer >= 1" in str(refused(check_integer, bad, low=1, high=5))


def test_check_bool():
    assert check_bool("flag", True) is True
    assert check_bool("flag", np.bool_(False)) is False
    for bad in ("no", "False", 0, 1, None):
        assert "True or False" in str(refused(check_bool, bad))


def test_check_choice():
    assert check_choice("kind", "bn", ("lrn", "bn")) == "bn"
    assert check_choice("ratio", 0.0, (1.0, 0.0)) == 0.0
    assert "one of ('lrn', 'bn')" in str(refused(check_choice, "gn", ("lrn", "bn")))
    refused(check_choice, True, (1.0, 0.0))  # True == 1.0, but a bool is not a ratio
    refused(check_choice, None, ("lrn", "bn"))


def test_check_sequence_accepts_tuples_lists_and_arrays_as_tuples():
    def item(name, value):
        return check_integer(name, value, low=1)

    for good in ((3, 4), [3, 4], np.array([3, 4]), range(3, 5)):
        checked = check_sequence("sizes", good, item)
        assert checked == (3, 4) and type(checked) is tuple
        assert all(type(v) is int for v in checked)


def test_check_sequence_refuses_strings_scalars_and_bad_items():
    def item(name, value):
        return check_integer(name, value, low=1)

    for bad in ("34", b"34", 3, None, {3, 4}, np.array(3), np.ones((2, 2), int)):
        assert "a sequence" in str(refused(check_sequence, bad, item, name="sizes"))
    error = refused(check_sequence, [3, 0], item, name="sizes")
    assert error.parameter == "sizes[1]"
    assert "at least 2" in str(refused(check_sequence, [3], item, name="sizes", min_length=2))


def test_check_string_and_check_callable():
    assert check_string("name", "fc1") == "fc1"
    for bad in (3, None, b"fc1"):
        assert "a string" in str(refused(check_string, bad))
    assert check_callable("fn", len, "a function") is len
    assert "a loss function" in str(refused(check_callable, "mse", "a loss function"))


def test_within_prefixes_the_message_and_keeps_the_parameter():
    with pytest.raises(ParameterError) as caught, within("conv1"):
        check_integer("stride", 0, low=1)
    assert str(caught.value).startswith("conv1: stride must be")
    assert caught.value.parameter == "stride"
    with pytest.raises(ParameterError, match="^stride must"), within(""):
        check_integer("stride", 0, low=1)


def test_folder_checks(tmp_path):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("x")
    assert check_folder("root", tmp_path) == tmp_path
    assert check_folder("root", str(tmp_path / "new")) == tmp_path / "new"
    assert check_output_dir("root", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert "not a file" in str(refused(check_folder, a_file, name="root"))
    assert "is a file" in str(refused(check_output_dir, a_file / "sub", name="root"))
    for bad in ("", 3, None):
        refused(check_folder, bad, name="root")
        refused(check_output_dir, bad, name="root")
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_no_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert check_folder("root", locked) == locked  # fine to read from
    assert "not writable" in str(refused(check_output_dir, locked / "sub", name="root"))


def test_check_output_path(tmp_path):
    assert check_output_path("out", tmp_path / "table.csv") == tmp_path / "table.csv"
    assert "not a folder" in str(refused(check_output_path, tmp_path, name="out"))
    assert "existing folder" in str(refused(check_output_path, tmp_path / "no" / "t.csv"))
    refused(check_output_path, 3, name="out")
