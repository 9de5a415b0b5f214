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
    "01_goyal_linear_scaling": [
        "G-F1_error_vs_batch.png",
        "G-F1_error_vs_batch.md",
        "G-F1_error_vs_batch.csv",
        "G-T1_warmup.md",
        "G-T1_warmup.csv",
        "G-F2_warmup_curves.png",
        "G-F3_curves_per_batch.png",
        "G-F3_curve_gaps.md",
        "G-F3_curve_gaps.csv",
        "G-F4_train_val_curves.png",
        "G-F4_gap.md",
        "G-F4_gap.csv",
        "G-F5_lr_vs_twice.png",
        "G-F5_lr_vs_twice.md",
        "G-F5_lr_vs_twice.csv",
        "G-T2a_lr_rules.md",
        "G-T2a_lr_rules.csv",
        "G-T2b_bn_gamma_init.md",
        "G-T2b_bn_gamma_init.csv",
        "G-R_momentum_correction.png",
        "G-R_remarks.png",
        "G-R_remarks.md",
        "G-R_remarks.csv",
        "G-F7_time_vs_batch.png",
        "G-F7_time_vs_batch.md",
        "G-F7_time_vs_batch.csv",
        "G-F8_scaling_model.png",
        "G-F8_scaling_model.md",
        "G-F8_scaling_model.csv",
    ],
    "02_lars": [
        "L-T2_norm_ratios.png",
        "L-T2_norm_ratios.md",
        "L-T2_norm_ratios.csv",
        "L-F-ratio_norm_ratios_over_training.png",
        "L-F-ratio_norm_ratios_over_training.md",
        "L-F-ratio_norm_ratios_over_training.csv",
        "L-T1_accuracy_grid.png",
        "L-T1_accuracy_grid.md",
        "L-T1_accuracy_grid.csv",
        "L-T1_paper.md",
        "L-T1_paper.csv",
        "L-T1_best_rates.md",
        "L-T1_best_rates.csv",
        "L-DIV_heatmaps.png",
        "L-DIV_largest_stable_lr.png",
        "L-DIV_largest_stable_lr.md",
        "L-DIV_largest_stable_lr.csv",
        "L-T3_lars_best_accuracy.png",
        "L-T3_lars_best_accuracy.md",
        "L-T3_lars_best_accuracy.csv",
        "L-F1_loss_curves.png",
        "L-F1_loss_curves.md",
        "L-F1_loss_curves.csv",
        "L-F2_large_batch_curves.png",
        "L-F2_large_batch_curves.md",
        "L-F2_large_batch_curves.csv",
        "L-F3_accuracy_vs_lr.png",
        "L-F3_accuracy_vs_lr.md",
        "L-F3_accuracy_vs_lr.csv",
        "L-T5_longer_training.png",
        "L-T5_longer_training.md",
        "L-T5_longer_training.csv",
        "L-VAR_lars_variants.png",
        "L-VAR_lars_variants.md",
        "L-VAR_lars_variants.csv",
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
        "CBS-F1_bcrit_vs_loss.png",
        "CBS-F1_bcrit_vs_loss.csv",
        "CBS-T1_branches.csv",
        "CBS-T1_three_definitions.md",
        "CBS-T1_three_definitions.csv",
        "CBS-F2_gain_vs_branches.png",
        "CBS-F2_gain_vs_branches.csv",
        "M-Bnoise_vs_bsimple.csv",
        "M-F15_temperature.png",
        "M-F15_temperature.md",
        "M-F15_temperature.csv",
        "M-F16_adaptive_batch.png",
        "M-F16_adaptive_batch.md",
        "M-F16_adaptive_batch.csv",
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
    "05_beyond_lars": [
        "LAMB-T1_accuracy_vs_batch.png",
        "LAMB-T1_accuracy_vs_batch.md",
        "LAMB-T1_best_rates.csv",
        "LAMB-F1_trust_ratios.png",
        "LAMB-F1_trust_ratios.csv",
        "LEGW-F1_accuracy_vs_k.png",
        "LEGW-F1_accuracy_vs_k.csv",
        "GW-F1_warmup_rates_and_losses.png",
        "GW-F1_first_epoch_and_accuracy.csv",
    ],
    "06_decentralised_and_conadv": [
        "DL_topologies.md",
        "DL_topologies.csv",
        "DL-F1_steady_state.png",
        "DL-F1_steady_state.md",
        "DL-F1_steady_state.csv",
        "DL-T1_accuracy_vs_batch.png",
        "DL-T1_accuracy_vs_batch.md",
        "DL-T1_accuracy_vs_batch.csv",
        "CA-T1_accuracy.png",
        "CA-T1_accuracy.md",
        "CA-T1_accuracy.csv",
        "CA-T1_plain_rates.md",
        "CA-T1_plain_rates.csv",
        "CA-F1_step_times.png",
        "CA-F1_step_times.md",
        "CA-F1_step_times.csv",
    ],
}
TARGETS: dict[str, list[str]] = {
    "00_tour": [],
    "01_goyal_linear_scaling": [
        "G-F1",
        "G-T1",
        "G-F2",
        "G-F3",
        "G-T2a",
        "G-T2b",
        "G-F4",
        "G-F5",
        "G-F7",
        "G-F8",
        "G-R",
    ],
    "02_lars": [
        "L-T2",
        "L-F-ratio",
        "L-T1",
        "L-DIV",
        "L-T3",
        "L-T5",
        "L-F1",
        "L-F2",
        "L-F3",
        "L-VAR",
    ],
    "03_noise_scale": [
        "M-F-curve",
        "M-F1",
        "M-F4",
        "M-T1",
        "M-F-lr",
        "M-F3",
        "M-F15",
        "M-F16",
        "CBS-F1",
        "CBS-T1",
        "CBS-F2",
    ],
    "04_noisy_quadratic": ["N-F1", "N-F2", "N-F3"],
    "05_beyond_lars": ["LAMB-T1", "LAMB-F1", "LEGW-F1", "GW-F1"],
    "06_decentralised_and_conadv": ["DL-F1", "DL-T1", "CA-T1", "CA-F1"],
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
    assert not warnings_from_the_project(tmp_path / notebook.name)


def warnings_from_the_project(executed: Path) -> list[str]:
    """Warnings that the project's own code printed into the executed notebook's outputs."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    texts = [
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stderr"
    ]
    return [
        line
        for text in texts
        for line in text.splitlines()
        if "Warning" in line and "largebatch_sim" in line
    ]


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


MAX_CELL_LINES = 60  # docs/DESIGN.md: a notebook is thin, "no code cell over about 60 lines"


def test_notebooks_are_thin():
    """Every code cell is at most MAX_CELL_LINES long, and no function is defined (``def
    name(``, at any indentation) in two notebooks: shared machinery lives in the library."""
    import re

    import nbformat

    long_cells, defined = [], {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            lines = len(cell.source.splitlines())
            if lines > MAX_CELL_LINES:
                long_cells.append(f"{path.stem} cell {index}: {lines} lines")
            for name in re.findall(r"^\s*def\s+(\w+)\s*\(", cell.source, re.MULTILINE):
                defined.setdefault(name, set()).add(path.stem)
    assert not long_cells, long_cells
    twice = {name: sorted(where) for name, where in defined.items() if len(where) > 1}
    assert not twice, f"functions defined in more than one notebook: {twice}"
