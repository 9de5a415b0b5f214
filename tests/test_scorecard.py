import pandas as pd
import pytest

from largebatch_sim.report import scorecard


def _row(target, verdict="yes"):
    return dict(
        target=target,
        compared="x",
        ours="1",
        paper="2",
        reproduced=verdict,
        reason="r",
        notebook="nb",
    )


def test_record_upserts_by_target_and_renders(tmp_path):
    scorecard.record(tmp_path, [_row("G-F1"), _row("L-T2", "no")])
    scorecard.record(tmp_path, [_row("G-F1", "partly")])
    table = pd.read_csv(tmp_path / "summary.csv", dtype=str)
    assert list(table.target) == ["G-F1", "L-T2"]
    assert table.set_index("target").loc["G-F1", "reproduced"] == "partly"
    text = scorecard.render(tmp_path).read_text()
    assert "0 yes, 1 no, 1 partly" in text and "G-F1" in text


def test_bad_verdict_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reproduced"):
        scorecard.record(tmp_path, [_row("G-F1", "maybe")])
