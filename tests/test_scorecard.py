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
        notebook="04_noisy_quadratic",
    )


def test_record_upserts_by_target_and_renders(tmp_path):
    scorecard.record(tmp_path, [_row("G-F1"), _row("L-T2", "no")])
    scorecard.record(tmp_path, [_row("G-F1", "partly")])
    table = pd.read_csv(tmp_path / "summary.csv", dtype=str)
    assert list(table.target) == ["G-F1", "L-T2"]
    assert table.set_index("target").loc["G-F1", "reproduced"] == "partly"
    text = scorecard.render(tmp_path).read_text()
    assert "0 yes, 1 partly, 1 no, 0 not resolved" in text and "TARGETS.md#g-f1" in text
    assert set(table.code_version) == {scorecard.figures_version("04_noisy_quadratic")}


def test_bad_verdict_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reproduced"):
        scorecard.record(tmp_path, [_row("G-F1", "maybe")])


def test_record_verdict_takes_the_verdict_from_the_registry(tmp_path):
    table = pd.DataFrame({"value": [0.5]})
    judged = scorecard.record_verdict(
        tmp_path,
        "G-F8",
        table,
        compared="modelled efficiency",
        ours="50 %",
        profile="smoke",
        seeds=1,
    )
    assert judged.verdict == "no"  # 50 % is outside 85-95 % and its slack
    row = pd.read_csv(tmp_path / "summary.csv", dtype=str).iloc[0]
    assert row.reproduced == "no" and row.notebook == "01_goyal_linear_scaling"
    assert row.paper.startswith("about 90 %") and row.profile == "smoke"


def test_recorder_binds_folder_profile_and_seeds(tmp_path):
    record = scorecard.recorder(tmp_path, "smoke", seeds=3)
    judged = record("G-F8", pd.DataFrame({"value": [0.5]}), "modelled efficiency", "50 %")
    assert judged.verdict == "no"
    record("G-F7", pd.DataFrame({"value": [0.5]}), "x", "y", seeds=5)  # a per-call seed count
    rows = pd.read_csv(tmp_path / "summary.csv", dtype=str).set_index("target")
    assert rows.loc["G-F8", "seeds"] == "3" and rows.loc["G-F7", "seeds"] == "5"
    assert (rows.profile == "smoke").all()
    with pytest.raises(TypeError, match="seed count"):
        scorecard.recorder(tmp_path, "smoke")("G-F8", pd.DataFrame(), "", "")


def test_unknown_target_is_refused_before_recording(tmp_path):
    with pytest.raises(KeyError, match="unknown target"):
        scorecard.record_verdict(
            tmp_path, "X-1", pd.DataFrame(), compared="", ours="", profile="quick", seeds=1
        )
    assert not (tmp_path / "summary.csv").exists()


def test_committed_figures_come_from_the_current_code():
    """Every row of the committed scorecard was made by the notebook and library as they are
    now: a change to either needs `make figures` before it is committed."""
    committed = scorecard.PACKAGE.parent / "figures" / "summary.csv"
    table = pd.read_csv(committed, dtype=str, keep_default_na=False)
    stale = [
        f"{row.target} ({row.notebook})"
        for row in table.itertuples()
        if row.code_version != scorecard.figures_version(row.notebook)
    ]
    assert not stale, f"figures made by an older code version, run make figures: {stale}"
    assert (table.profile == "quick").all(), "figures/ holds the quick profile only"
