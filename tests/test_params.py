"""Tests of the parameter validators in bnreg/params.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnreg.params import (
    Param,
    ParameterError,
    check_bool,
    check_choice,
    check_finite_array,
    check_float,
    check_int,
)

# --------------------------------------------------------------------------------------------
# check_int


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize(
    "value, expected",
    [(32, 32), ("32", 32), (" 7 ", 7), ("-3", -3), (32.0, 32), ("32.0", 32), ("1e3", 1000),
     (np.int64(5), 5), (np.int32(6), 6), (np.float64(4.0), 4), (10**30, 10**30)],
)
def test_check_int_accepts_and_parses(value, expected):
    out = check_int("n", value)
    assert out == expected
    assert type(out) is int


@pytest.mark.parametrize(
    "value",
    [2.5, "2.5", "abc", "", True, False, np.bool_(True), None, float("nan"), float("inf"), float("-inf"),
     "nan", "inf", "1e400", [3], 3 + 0j],
)
def test_check_int_rejects_non_integers(value):
    with pytest.raises(ParameterError) as ei:
        check_int("M", value, 2)
    msg = str(ei.value)
    assert "M" in msg and "integer" in msg
    assert "M >= 2" in msg  # the allowed range is stated even for type errors


def test_check_int_rejects_bool_even_without_range():
    with pytest.raises(ParameterError, match="n must be an integer"):
        check_int("n", True)


def test_check_int_message_below_lower_bound():
    with pytest.raises(ParameterError) as ei:
        check_int("M", 1, 2)
    assert str(ei.value) == "M must satisfy M >= 2 (got 1)"


def test_check_int_two_sided_range_text():
    with pytest.raises(ParameterError, match="1 <= order <= 2"):
        check_int("order", 3, 1, 2)
    with pytest.raises(ParameterError, match="1 <= order <= 2"):
        check_int("order", 0, 1, 2)
    with pytest.raises(ParameterError, match="k <= 10"):
        check_int("k", 11, hi=10)
    assert check_int("order", "2", 1, 2) == 2


@given(st.integers(max_value=1))
def test_any_integer_below_two_rejected_for_M(v):
    with pytest.raises(ParameterError) as ei:
        check_int("M", v, 2)
    assert "M >= 2" in str(ei.value)
    with pytest.raises(ParameterError) as ei:
        check_int("M", str(v), 2)
    assert "M >= 2" in str(ei.value)


@given(st.integers(min_value=2))
def test_any_integer_at_least_two_accepted_for_M(v):
    assert check_int("M", v, 2) == v
    assert check_int("M", str(v), 2) == v


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integral_floats_are_converted(v):
    out = check_int("n", float(v))
    assert out == v and type(out) is int


@given(st.floats(min_value=-1e6, max_value=1e6).filter(lambda x: x != int(x)))
def test_non_integral_floats_rejected(x):
    with pytest.raises(ParameterError, match="n must be an integer"):
        check_int("n", x)


@given(st.integers(min_value=-1000, max_value=1000), st.integers(min_value=-1000, max_value=1000),
       st.integers(min_value=-2000, max_value=2000))
def test_check_int_range_property(a, b, v):
    lo, hi = min(a, b), max(a, b)
    if lo <= v <= hi:
        assert check_int("k", v, lo, hi) == v
    else:
        with pytest.raises(ParameterError) as ei:
            check_int("k", v, lo, hi)
        assert f"{lo} <= k <= {hi}" in str(ei.value)


# --------------------------------------------------------------------------------------------
# check_float


@pytest.mark.parametrize(
    "value, expected",
    [(0.5, 0.5), ("0.5", 0.5), ("1e-3", 1e-3), (0, 0.0), (np.float32(0.25), 0.25), (np.int64(0), 0.0), ("  0.1", 0.1)],
)
def test_check_float_accepts_and_parses(value, expected):
    out = check_float("p_drop", value, 0, 1, hi_open=True)
    assert out == expected
    assert type(out) is float


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "-inf", "1e400",
                                   np.float64("nan"), np.inf])
def test_check_float_rejects_non_finite(value):
    with pytest.raises(ParameterError) as ei:
        check_float("p_drop", value, 0, 1, hi_open=True)
    msg = str(ei.value)
    assert "p_drop" in msg and "finite" in msg
    assert "0 <= p_drop < 1" in msg


@pytest.mark.parametrize("value", ["abc", "", None, True, False, [0.5], object()])
def test_check_float_rejects_non_numbers(value):
    with pytest.raises(ParameterError) as ei:
        check_float("p_drop", value, 0, 1, hi_open=True)
    msg = str(ei.value)
    assert msg.startswith("p_drop must be a real number")
    assert "0 <= p_drop < 1" in msg


def test_check_float_messages_name_range():
    with pytest.raises(ParameterError) as ei:
        check_float("p_drop", 1, 0, 1, hi_open=True)
    assert str(ei.value) == "p_drop must satisfy 0 <= p_drop < 1 (got 1)"
    with pytest.raises(ParameterError, match="0 <= p_drop < 1"):
        check_float("p_drop", -0.1, 0, 1, hi_open=True)
    with pytest.raises(ParameterError, match="sigma > 0"):
        check_float("sigma", 0.0, 0, lo_open=True)
    with pytest.raises(ParameterError, match="sigma > 0"):
        check_float("sigma", "-1", 0, lo_open=True)
    with pytest.raises(ParameterError, match="rho >= -2"):
        check_float("rho", -2.5, -2)
    with pytest.raises(ParameterError, match="x <= 3"):
        check_float("x", 3.5, hi=3)
    with pytest.raises(ParameterError, match="0 < q < 1"):
        check_float("q", 0, 0, 1, lo_open=True, hi_open=True)
    # closed bounds are inclusive
    assert check_float("p", 0, 0, 1) == 0.0
    assert check_float("p", 1, 0, 1) == 1.0
    assert check_float("rho", -2, -2) == -2.0


def test_check_float_huge_python_int_is_a_parameter_error():
    # float(10**400) raises OverflowError; bad input must still surface as a ParameterError naming
    # the parameter (bnreg/params.py module docstring), not as a bare OverflowError.
    with pytest.raises(ParameterError, match="sigma"):
        check_float("sigma", 10**400, 0, lo_open=True)


@given(st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_any_float_inside_half_open_interval_returned_unchanged(x):
    out = check_float("p_drop", x, 0, 1, hi_open=True)
    assert out == x and type(out) is float
    assert check_float("p_drop", repr(x), 0, 1, hi_open=True) == x  # string round trip


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_outside_interval_raises_naming_the_range(x):
    if 0 <= x < 1:
        assert check_float("p_drop", x, 0, 1, hi_open=True) == x
    else:
        with pytest.raises(ParameterError) as ei:
            check_float("p_drop", x, 0, 1, hi_open=True)
        assert "0 <= p_drop < 1" in str(ei.value)


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False),
       st.floats(allow_nan=False, allow_infinity=False))
def test_check_float_closed_interval_property(a, b, x):
    lo, hi = min(a, b), max(a, b)
    if lo <= x <= hi:
        assert check_float("x", x, lo, hi) == x
    else:
        with pytest.raises(ParameterError, match="x must satisfy"):
            check_float("x", x, lo, hi)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_check_float_unbounded_returns_any_finite_float(x):
    out = check_float("u", x)
    assert out == x and math.isfinite(out)


# --------------------------------------------------------------------------------------------
# check_bool


@pytest.mark.parametrize("value", [True, np.bool_(True), "true", "TRUE", "True", "1", "yes", "Yes", 1, np.int64(1)])
def test_check_bool_true(value):
    assert check_bool("exact", value) is True


@pytest.mark.parametrize("value", [False, np.bool_(False), "false", "False", "0", "no", "NO", 0, np.int64(0)])
def test_check_bool_false(value):
    assert check_bool("exact", value) is False


@pytest.mark.parametrize("value", ["maybe", "", "t", 2, -1, 0.5, 1.0, None, [True]])
def test_check_bool_rejects(value):
    with pytest.raises(ParameterError) as ei:
        check_bool("exact", value)
    assert str(ei.value).startswith("exact must be true or false")


@given(st.text().filter(lambda s: s.lower() not in ("true", "1", "yes", "false", "0", "no")))
def test_check_bool_rejects_any_other_string(s):
    with pytest.raises(ParameterError, match="exact must be true or false"):
        check_bool("exact", s)


# --------------------------------------------------------------------------------------------
# check_choice

FAMS = ("gaussian", "uniform", "laplace")


def test_check_choice_accepts():
    for f in FAMS:
        assert check_choice("family", f, FAMS) == f


@pytest.mark.parametrize("value", ["cauchy", "Gaussian", "", None, 1])
def test_check_choice_rejects(value):
    with pytest.raises(ParameterError) as ei:
        check_choice("family", value, FAMS)
    msg = str(ei.value)
    assert msg.startswith("family must be one of gaussian, uniform, laplace")
    assert repr(value) in msg


@given(st.text().filter(lambda s: s not in FAMS))
def test_check_choice_rejects_any_other_string(s):
    with pytest.raises(ParameterError, match="family must be one of"):
        check_choice("family", s, FAMS)


# --------------------------------------------------------------------------------------------
# check_finite_array


def test_check_finite_array_returns_float_array():
    out = check_finite_array("x", [1, 2, 3])
    assert isinstance(out, np.ndarray) and out.dtype == float
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
    out2 = check_finite_array("x", np.ones((2, 3)), ndim=2)
    assert out2.shape == (2, 3)


def test_check_finite_array_ndim():
    with pytest.raises(ParameterError, match=r"x must be a 1-d array \(got shape \(2, 2\)\)"):
        check_finite_array("x", [[1, 2], [3, 4]], ndim=1)
    with pytest.raises(ParameterError, match="x must be a 2-d array"):
        check_finite_array("x", [1, 2], ndim=2)


@pytest.mark.parametrize("value", [[], [1.0, float("nan")], [float("inf")], [[1.0], [-np.inf]], np.array([]), None])
def test_check_finite_array_rejects_empty_or_non_finite(value):
    with pytest.raises(ParameterError, match="x must be a non-empty array of finite numbers"):
        check_finite_array("x", value)


@pytest.mark.parametrize("value", [["a", "b"], "abc", [[1, 2], [3]]])
def test_check_finite_array_rejects_non_numeric_naming_the_parameter(value):
    # Bad input must fail with a ParameterError naming the parameter, not numpy's bare
    # "could not convert string to float" / "inhomogeneous shape" ValueError.
    with pytest.raises(ParameterError, match="weights"):
        check_finite_array("weights", value)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
def test_check_finite_array_round_trip(xs):
    out = check_finite_array("x", xs, ndim=1)
    np.testing.assert_array_equal(out, np.array(xs, dtype=float))


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20),
       st.sampled_from([float("nan"), float("inf"), float("-inf")]), st.integers(min_value=0, max_value=20))
def test_check_finite_array_any_non_finite_entry_rejected(xs, bad, pos):
    xs = list(xs)
    xs.insert(min(pos, len(xs)), bad)
    with pytest.raises(ParameterError, match="finite"):
        check_finite_array("x", xs)


# --------------------------------------------------------------------------------------------
# Param: optional values, lists (declared configs) and text


def test_param_optional_list_and_text():
    shape = Param("shape", "int", None, lo=1, length=(3, 3), optional=True)
    assert shape.parse(None) is None and shape.parse(" None ") is None and shape.parse("") is None
    assert shape.parse("1, 40,1") == (1, 40, 1) and shape.parse([1, np.int64(2), 3.0]) == (1, 2, 3)
    assert shape.range_text() == "3 values (comma-separated), each 1 <= shape[i], or none"
    with pytest.raises(ParameterError, match=r"^shape must be 3 values .* \(got \(6, 6\)\)$"):
        shape.parse((6, 6))
    with pytest.raises(ParameterError, match=r"^shape\[1\] must satisfy shape\[1\] >= 1"):
        shape.parse("4,0,1")
    widths = Param("widths", "int", (), lo=1, length=(0, None))
    assert widths.parse("none") == () and widths.parse(8) == (8,) and widths.parse("8") == (8,)
    with pytest.raises(ParameterError, match="^widths must be an integer"):  # one item alone: the field's name
        widths.parse("x")
    with pytest.raises(ParameterError, match="widths must be"):
        widths.parse(None)  # not optional
    flags = Param("flags", "bool", None, length=(1, 2))
    assert flags.parse("1,no") == (True, False)
    assert flags.range_text() == "1 to 2 values (comma-separated), each true|false"
    text = Param("dir", "str", None, optional=True)
    assert text.parse("/x") == "/x" and text.parse("none") is None and text.range_text() == "text, or none"
    with pytest.raises(ParameterError, match="dir must be text"):
        text.parse(3)
    # a formula-style parameter (neither optional nor a list) is unchanged: None is refused
    with pytest.raises(ParameterError, match="M must be an integer"):
        Param("M", "int", 2, lo=2).parse(None)
    assert Param("M", "int", 2, lo=2).range_text() == "2 <= M"
