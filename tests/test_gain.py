"""AdaScale's gain and Pollux's statistical efficiency (analysis.gain) by hand."""

import numpy as np
import pytest

from largebatch_sim.analysis.gain import adascale_gain, statistical_efficiency
from largebatch_sim.validate import ParameterError


def test_by_hand():
    # tr(Sigma) = 100, |G|^2 = 1: B_simple = 100; B0 = 10, B = 100
    assert adascale_gain(100.0, 1.0, 100, 10) == pytest.approx((1 + 10) / (1 + 1))
    assert statistical_efficiency(100.0, 1.0, 100, 10) == pytest.approx((100 + 10) / (100 + 100))


def test_the_gain_lies_between_one_and_the_scale():
    batch = np.array([10.0, 20, 80, 640])
    no_noise = adascale_gain(0.0, 1.0, batch, 10)
    pure_noise = adascale_gain(1e12, 1.0, batch, 10)
    np.testing.assert_allclose(no_noise, 1.0)  # the exact gradient already: B buys nothing
    np.testing.assert_allclose(pure_noise, batch / 10, rtol=1e-6)  # linear scaling
    mid = adascale_gain(50.0, 1.0, batch, 10)
    assert np.all((mid >= 1) & (mid <= batch / 10)) and np.all(np.diff(mid) > 0)


def test_unresolved_noise_is_nan_and_bad_input_is_refused():
    assert np.isnan(adascale_gain(100.0, 0.0, 100, 10))
    assert np.isnan(adascale_gain(-1.0, 1.0, 100, 10))
    with pytest.raises(ParameterError, match="base_batch"):
        adascale_gain(1.0, 1.0, 100, 0)
    with pytest.raises(ParameterError, match="batch"):
        adascale_gain(1.0, 1.0, -5, 10)
