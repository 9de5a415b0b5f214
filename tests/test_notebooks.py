"""Every notebook runs end to end with profile=smoke through papermill, into a temporary folder."""

from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# What each notebook must write (its figures and tables); the targets it adds to the scorecard.
OUTPUTS = {
    "00_tour": [
        "00_batch_warmup.png",
        "00_norm_ratios.png",
        "00_norm_ratios.md",
        "00_norm_ratios.csv",
        "00_lr_ensemble.png",
    ],
    "03_noise_scale": [
        "M-F-curve_noise_scale.png",
        "M-F-curve_noise_scale.md",
        "M-F-curve_noise_scale.csv",
        "M-F1_pareto_fronts.png",
        "M-F1_steps_to_target.md",
        "M-F1_steps_to_target.csv",
        "M-F1_pareto_fits.md",
        "M-F1_pareto_fits.csv",
        "M-F4_bcrit_vs_bsimple.png",
        "M-F4_bcrit_vs_bsimple.md",
        "M-F4_bcrit_vs_bsimple.csv",
        "M-T1_noise_scale_table.md",
        "M-T1_noise_scale_table.csv",
        "M-F-lr_best_lr_vs_batch.png",
        "M-F-lr_best_lr_fit.md",
        "M-F-lr_best_lr_fit.csv",
        "M-F3_speed_vs_b_over_bnoise.png",
        "M-F3_speed_vs_b_over_bnoise.md",
        "M-F3_speed_vs_b_over_bnoise.csv",
        "M-Bnoise_vs_bsimple.png",
        "M-Bnoise_vs_bsimple.md",
        "M-Bnoise_vs_bsimple.csv",
        "M-F15_temperature.png",
        "M-F15_temperature.md",
        "M-F15_temperature.csv",
    ],
    "04_noisy_quadratic": [
        "N-F1_steps_vs_batch.png",
        "N-F1_steps_vs_batch.md",
        "N-F1_steps_vs_batch.csv",
        "N-F2_momentum_preconditioning.png",
        "N-F2_critical_batch.md",
        "N-F2_critical_batch.csv",
        "N-F3_best_lr_vs_batch.png",
        "N-F3_best_lr_vs_batch.md",
        "N-F3_best_lr_vs_batch.csv",
    ],
}
TARGETS: dict[str, list[str]] = {
    "00_tour": [],
    "03_noise_scale": ["M-F-curve", "M-F1", "M-F4", "M-T1", "M-F-lr", "M-F3", "M-F15"],
    "04_noisy_quadratic": ["N-F1", "N-F2", "N-F3"],
}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_smoke_profile(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "figures"
    pm.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        cwd=str(ROOT),
        progress_bar=False,
        parameters=dict(profile="smoke", backend="numpy", seed=0, out_dir=str(out)),
    )
    for name in OUTPUTS[notebook.stem]:
        assert (out / name).stat().st_size > 0, name
    for csv in out.glob("*.csv"):
        if csv.name == "summary.csv":
            continue  # the scorecard is text; its rows are checked below
        table = pd.read_csv(csv)
        numbers = table.select_dtypes("number")
        assert numbers.size and not numbers.isna().all(axis=None), f"{csv.name} has no numbers"
    if TARGETS[notebook.stem]:
        scores = pd.read_csv(out / "summary.csv")
        assert set(TARGETS[notebook.stem]) <= set(scores.target)


def test_every_notebook_is_declared():
    assert {p.stem for p in NOTEBOOKS} == set(OUTPUTS) == set(TARGETS)


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first_code.metadata.get("tags", []), path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_bad_parameter_fails_before_compute(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="profile"):
        pm.execute_notebook(
            str(NOTEBOOKS[0]),
            str(tmp_path / "bad.ipynb"),
            cwd=str(ROOT),
            progress_bar=False,
            parameters=dict(profile="huge", out_dir=str(tmp_path)),
        )
