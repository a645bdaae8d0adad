"""Serialization: plain data fast path, cloudpickle for code, out-of-band buffers."""

import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parnrn.transport.serialize import OUT_OF_BAND_THRESHOLD, dumps, loads


def roundtrip(obj):
    payload = dumps(obj)
    return loads(payload.stream, [bytearray(b) for b in payload.buffers]), payload


def test_plain_data_uses_the_plain_path_and_matches_pickle():
    obj = {"a": 1, "b": [1.5, None, True], "c": ("x", b"y"), "d": {1, 2}}
    payload = dumps(obj)
    assert payload.plain and payload.buffers == []
    assert payload.stream == pickle.dumps(obj, protocol=5)
    assert loads(payload.stream, []) == obj


def test_lambdas_closures_and_local_classes_go_through_cloudpickle():
    offset = 3

    class Local:
        def __init__(self, v):
            self.v = v

    result, payload = roundtrip({"f": lambda x: x + offset, "obj": Local(7)})
    assert not payload.plain
    assert result["f"](1) == 4
    assert result["obj"].v == 7


def test_large_arrays_travel_out_of_band_without_copy():
    array = np.arange(OUT_OF_BAND_THRESHOLD // 8 * 4, dtype=np.float64)
    payload = dumps(array)
    assert len(payload.buffers) == 1
    assert payload.buffers[0].nbytes == array.nbytes
    assert np.shares_memory(np.frombuffer(payload.buffers[0], dtype=np.float64), array)
    assert len(payload.stream) < 1000
    result = loads(payload.stream, [bytearray(payload.buffers[0])])
    assert np.array_equal(result, array) and result.flags.writeable


def test_small_arrays_stay_in_band():
    payload = dumps(np.arange(10))
    assert payload.buffers == [] and payload.plain  # a descriptor: loading runs no user code
    assert len(payload.stream) < 10 * 8 + 32


@pytest.mark.parametrize(
    "array",
    [
        np.arange(200_000, dtype=np.int32).reshape(400, 500)[:, ::3],  # non-contiguous
        np.asfortranarray(np.ones((600, 700))),
        np.zeros(0),
        np.array(3.5),
        np.ones(100_000, dtype=np.complex128),
        np.zeros(50_000, dtype=[("t", "f8"), ("gid", "i8")]),
    ],
)
def test_arrays_of_any_layout_roundtrip(array):
    result, _ = roundtrip(array)
    assert result.dtype == array.dtype and result.shape == array.shape
    assert np.array_equal(result, array)


def test_unpicklable_object_raises():
    with pytest.raises(TypeError, match="lock"):
        dumps({"lock": threading.Lock()})


def test_plain_pickler_is_reusable_after_a_failed_attempt():
    dumps({"f": lambda: 1})
    with pytest.raises(TypeError):
        dumps([threading.Lock()])
    assert dumps({"a": 1}).stream == pickle.dumps({"a": 1}, protocol=5)


def test_arrays_that_dtype_and_shape_cannot_describe_pickle_as_cloudpickle_would():
    import cloudpickle

    for array in (np.zeros(3, dtype=[("t", "f8"), ("g", "i8")]), np.ones((3, 4)).T):
        payload = dumps(array)
        assert payload.stream == cloudpickle.dumps(array, protocol=5)
        assert not payload.plain  # loading needs numpy: every rank confirms it loaded


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        dtype=st.one_of(
            hnp.boolean_dtypes(), hnp.integer_dtypes(endianness="="),
            hnp.unsigned_integer_dtypes(endianness="<"), hnp.floating_dtypes(endianness=">"),
            hnp.complex_number_dtypes(), hnp.datetime64_dtypes(), hnp.byte_string_dtypes(),
            hnp.unicode_string_dtypes(),
        ),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    ),
    st.booleans(),
)  # fmt: skip
def test_bare_arrays_roundtrip_bit_exactly(array, large):
    """Any dtype, byte order, shape (empty and 0-d too), in band or out of band."""
    if large and array.size:
        array = np.concatenate([array.ravel()] * (OUT_OF_BAND_THRESHOLD // array.nbytes + 1))
    result, payload = roundtrip(array)
    assert payload.plain
    assert bool(payload.buffers) == (array.nbytes >= OUT_OF_BAND_THRESHOLD)
    assert result.dtype == array.dtype and result.shape == array.shape
    assert result.tobytes() == array.tobytes() and result.flags.writeable


def test_object_arrays_go_through_cloudpickle():
    array = np.array([lambda: 1, None], dtype=object)
    result, _ = roundtrip(array)
    assert result[0]() == 1
