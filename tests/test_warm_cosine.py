import numpy as np

from largebatch_sim.runs.warm_cosine import lr_table


def test_the_table_warms_up_from_a_tenth_and_decays_to_zero():
    table = lr_table(0.4, epochs=10, warmup_epochs=2, steps_per_epoch=5)
    assert table.shape == (50,)
    np.testing.assert_allclose(table[0], 0.04)
    warm = table[:10]
    assert np.all(np.diff(warm) > 0)  # rising through the warmup
    assert table.max() <= 0.4 + 1e-12 and np.argmax(table) == 10
    assert np.all(np.diff(table[10:]) <= 0)  # then the cosine only falls
    assert table[-1] < 0.4 * 0.01


def test_a_warmup_longer_than_the_run_still_leaves_its_last_step():
    table = lr_table(0.1, epochs=1, warmup_epochs=5, steps_per_epoch=4)
    assert table.shape == (4,) and np.all(np.isfinite(table)) and table[0] == 0.01
