"""The report's figures as matplotlib Figures, each drawn from one saved statistics table.

Pure functions (table in, Figure out, nothing shown or saved): the pipeline saves them through
``matplotlib.MatplotlibWriter`` (kedro-viz previews them) and the report embeds the same
figures as inline SVG. Colours are fixed per strategy so every figure reads the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

STRATEGY_COLOURS = {"fft": "#d62728", "lora": "#1f77b4", "qlora": "#2ca02c", "zero_shot": "#7f7f7f"}
STRATEGY_LABELS = {"fft": "FFT", "lora": "LoRA", "qlora": "QLoRA", "zero_shot": "zero-shot base"}
FOCUS_PANELS = (
    ("normalised_entropy", "normalised entropy H/ln N\n(lower = more focused)"),
    ("top_k_mass", "top-k mass\n(higher = more focused)"),
)


def _subplots(nrows: int = 1, ncols: int = 1, figsize=(6.4, 4.8), squeeze: bool = True):
    """A Figure outside pyplot (no global figure registry to leak, no GUI backend) and its axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.subplots(nrows, ncols, squeeze=squeeze)


def colour(strategy: str) -> str:
    return STRATEGY_COLOURS.get(strategy, "#9467bd")


def label(strategy: str) -> str:
    return STRATEGY_LABELS.get(strategy, strategy)


def size_order(table: pd.DataFrame) -> list[str]:
    """Sizes from smallest to largest parameter count."""
    return list(table.drop_duplicates("model_size").sort_values("n_params")["model_size"])


def _strategies(table: pd.DataFrame) -> list[str]:
    known = [s for s in STRATEGY_COLOURS if s in set(table["strategy"])]
    return known + sorted(set(table["strategy"]) - set(known))


def _params_label(n_params: float) -> str:
    return f"{n_params / 1e9:.1f}B" if n_params >= 1e9 else f"{n_params / 1e6:.0f}M"


def _size_axis(ax, table: pd.DataFrame) -> None:
    """Log-scaled parameter axis with one labelled tick per observed size (no crowded minor ticks)."""
    from matplotlib.ticker import NullLocator

    sizes = table.drop_duplicates("model_size").sort_values("n_params")
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(
        list(sizes["n_params"]), [f"{s}\n{_params_label(n)}" for s, n in zip(sizes["model_size"], sizes["n_params"])]
    )
    low, high = sizes["n_params"].min(), sizes["n_params"].max()
    ax.set_xlim(low / 1.15, high * 1.15)


def _empty(title: str, message: str):
    fig, ax = _subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11)
    ax.set_title(title)
    return fig


def focus_figure(clause_focus: pd.DataFrame):
    """Box plots of per-clause focus, sizes on x, one box per strategy."""
    if clause_focus.empty:
        return _empty("Attribution focus", "no attributions in this run")
    sizes, strategies = size_order(clause_focus), _strategies(clause_focus)
    fig, axes = _subplots(1, len(FOCUS_PANELS), figsize=(11, 4))
    width = 0.8 / len(strategies)
    for ax, (metric, title) in zip(np.atleast_1d(axes), FOCUS_PANELS):
        for j, strategy in enumerate(strategies):
            data = [
                clause_focus.loc[(clause_focus["strategy"] == strategy) & (clause_focus["model_size"] == s), metric]
                .dropna()
                .to_numpy()
                for s in sizes
            ]
            positions = np.arange(len(sizes)) + (j - (len(strategies) - 1) / 2) * width
            keep = [i for i, d in enumerate(data) if len(d)]
            if not keep:
                continue
            parts = ax.boxplot(
                [data[i] for i in keep],
                positions=positions[keep],
                widths=width * 0.9,
                patch_artist=True,
                showfliers=True,
                manage_ticks=False,
            )
            for box in parts["boxes"]:
                box.set(facecolor=colour(strategy), alpha=0.55)
            ax.plot([], [], color=colour(strategy), lw=6, alpha=0.55, label=label(strategy))
        ticks = clause_focus.drop_duplicates("model_size").set_index("model_size")["n_params"]
        ax.set_xticks(range(len(sizes)), [f"{s}\n{_params_label(ticks[s])}" for s in sizes])
        ax.set_ylabel(title)
        ax.grid(axis="y", alpha=0.3)
    np.atleast_1d(axes)[0].legend(loc="best", fontsize=9)
    fig.suptitle("Attribution focus per clause, by strategy and size")
    return fig


def category_share_figure(category_summary: pd.DataFrame, metric: str = "mass_share"):
    """Mean share of attribution mass per word category against parameter count, a line per strategy."""
    table = category_summary[category_summary["metric"] == metric]
    if table.empty:
        return _empty("Category share", "no attributions in this run")
    categories = list(dict.fromkeys(table["category"]))
    cols = min(3, len(categories))
    rows = math.ceil(len(categories) / cols)
    fig, axes = _subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, category in zip(axes.ravel(), categories):
        part = table[table["category"] == category]
        for strategy in _strategies(part):
            line = part[part["strategy"] == strategy].sort_values("n_params")
            err = [line["mean"] - line["ci_low"], line["ci_high"] - line["mean"]]
            ax.errorbar(
                line["n_params"],
                line["mean"],
                yerr=err,
                marker="o",
                capsize=3,
                color=colour(strategy),
                label=label(strategy),
            )
        _size_axis(ax, table)
        ax.set_title(category.replace("_", " "))
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(categories) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel(f"mean {metric.replace('_', ' ')}")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Attribution {metric.replace('_', ' ')} per word category against model size (95% CI)")
    return fig


def quality_figure(quality_summary: pd.DataFrame, metric: str):
    """Mean rule quality against parameter count per strategy, zero-shot base included (95% CI)."""
    table = quality_summary[quality_summary["metric"] == metric]
    if table.empty:
        return _empty("Rule quality", f"no {metric} in this run")
    fig, ax = _subplots(figsize=(7, 4.2))
    for strategy in _strategies(table):
        line = table[table["strategy"] == strategy].sort_values("n_params")
        err = [line["mean"] - line["ci_low"], line["ci_high"] - line["mean"]]
        ax.errorbar(
            line["n_params"],
            line["mean"],
            yerr=err,
            marker="o",
            capsize=3,
            color=colour(strategy),
            linestyle="--" if strategy == "zero_shot" else "-",
            label=label(strategy),
        )
    _size_axis(ax, table)
    ax.set_xlabel("model size (base model parameters, log scale)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(f"Rule quality ({metric.replace('_', ' ')}) against model size")
    return fig


def correctness_link_figure(link: pd.DataFrame):
    """Odds ratios of getting a rule part right per 0.1 of attribution share (GEE, clause clusters), with 95% CIs."""
    rows = link.dropna(subset=["odds_ratio_per_0_1"]) if len(link) else link
    if rows.empty:
        return _empty("Attribution and correctness", "not testable in this run (see the table)")
    fig, ax = _subplots(figsize=(6.5, 1.2 + 0.6 * len(rows)))
    labels = [f"{r.predictor.replace('_', ' ')} -> {r.outcome.replace('_', ' ')}" for r in rows.itertuples()]
    y = list(range(len(rows)))
    ax.errorbar(
        rows["odds_ratio_per_0_1"],
        y,
        xerr=[rows["odds_ratio_per_0_1"] - rows["ci_low"], rows["ci_high"] - rows["odds_ratio_per_0_1"]],
        fmt="o",
        capsize=3,
    )
    ax.axvline(1.0, linestyle=":", color="grey")
    ax.set_xscale("log")
    ax.set_yticks(y, labels)
    ax.set_xlabel("odds ratio per 0.1 of attribution share (log scale)")
    ax.set_title("Where the model looks and whether it translated right")
    return fig


def agreement_figure(matrix: pd.DataFrame):
    """Variant x variant mean Spearman agreement of word attributions (same clauses)."""
    if matrix.empty:
        return _empty("Agreement", "fewer than two variants")
    values = matrix.set_index("variant")
    fig, ax = _subplots(figsize=(1.0 + 0.65 * len(values), 0.8 + 0.6 * len(values)))
    image = ax.imshow(values.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(values.columns)), values.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(values.index)), values.index)
    for i in range(len(values.index)):
        for j in range(len(values.columns)):
            v = values.iat[i, j]
            if np.isfinite(v):
                ax.text(
                    j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 else "black"
                )
    fig.colorbar(image, ax=ax, shrink=0.8, label="mean Spearman rho over clauses")
    ax.set_title("Do variants pick the same words?")
    return fig


def training_figure(variants: pd.DataFrame):
    """Validation loss against optimizer step, one panel per size, one line per strategy.

    The kept (best) checkpoint is a filled marker; a dotted vertical line is the step cap, so a
    curve still falling at the cap shows a variant that had not finished learning.
    """
    from rulelens.modeling.training_record import parse_curve

    points = variants["val_curve"].map(parse_curve) if "val_curve" in variants else [[]] * len(variants)
    curves = variants.assign(points=points)
    curves = curves[curves["points"].map(len) > 0]
    if curves.empty:
        return _empty("Training", "no validation curves recorded for these variants")
    sizes = size_order(curves)
    fig, axes = _subplots(1, len(sizes), figsize=(3.6 * len(sizes) + 1, 3.6), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        rows = curves[curves["model_size"] == size]
        for _, row in rows.iterrows():
            steps, losses = zip(*row["points"])
            ax.plot(steps, losses, marker=".", color=colour(row["strategy"]), label=label(row["strategy"]))
            best = row.get("best_step")
            if best is not None and best == best and int(best) in steps:
                ax.plot([int(best)], [losses[steps.index(int(best))]], "o", ms=8, color=colour(row["strategy"]))
        cap = rows["max_steps"].max() if "max_steps" in rows else None
        if cap is not None and cap == cap and cap > 0:
            ax.axvline(float(cap), linestyle=":", color="#555555")
        ax.set_title(f"{size} ({_params_label(float(rows['n_params'].iloc[0]))})")
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation loss [nats per rule token]")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Training: validation loss per evaluation (filled marker: kept checkpoint; dotted: step cap)")
    return fig


def faithfulness_figure(mean_curves: pd.DataFrame):
    """Comprehensiveness and sufficiency against k: attribution order (solid) vs random order (dashed)."""
    if mean_curves.empty:
        return _empty("Faithfulness", "no deletion curves in this run (attribution.faithfulness.n_clauses = 0)")
    fig, axes = _subplots(1, 2, figsize=(11, 4))
    panels = (
        ("comprehensiveness", "s(x) - s(x without top-k) [nats]\n(higher = attribution found needed words)"),
        ("sufficiency", "s(x) - s(only top-k) [nats]\n(lower = top-k words suffice)"),
    )
    for ax, (measure, title) in zip(axes, panels):
        for strategy in _strategies(mean_curves):
            for order, style in (("attribution", "-"), ("random", "--")):
                line = mean_curves[(mean_curves["strategy"] == strategy) & (mean_curves["order"] == order)]
                if len(line):
                    ax.plot(
                        line["k"],
                        line[measure],
                        style,
                        marker="o",
                        color=colour(strategy),
                        label=f"{label(strategy)}, {order} order",
                    )
        ax.set_xlabel("k (words removed / kept)")
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Deletion curves: attribution order against random order (mean over sizes and clauses)")
    return fig


def clause_heatmap_figure(attributions: pd.DataFrame, clause_id=None):
    """One clause under every variant as a grid: variants as rows, words as columns, colour = a_i.

    The image twin of the HTML side-by-side heatmap (kedro-viz previews images, not HTML). One
    symmetric colour scale over the whole grid; red raises log p(target), blue lowers it.
    """
    if attributions.empty:
        return _empty("Clause heatmap", "no attributions in this run")
    if clause_id is None:
        clause_id = attributions["clause_id"].iloc[0]
    rows = attributions[attributions["clause_id"] == clause_id]
    order = (
        rows.drop_duplicates("variant").sort_values(["n_params", "strategy"])["variant"]
        if "n_params" in rows.columns
        else rows["variant"].drop_duplicates()
    )
    grid = rows.pivot_table(index="variant", columns="word_index", values="score").reindex(list(order))
    words = rows.drop_duplicates("word_index").sort_values("word_index")["word"].tolist()
    scale = float(np.nanmax(np.abs(grid.to_numpy()))) or 1.0
    fig, ax = _subplots(figsize=(max(6.0, 0.42 * len(words) + 2.0), 0.42 * len(grid) + 1.8))
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto")
    ax.set_xticks(range(len(words)), words, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(grid)), grid.index, fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.9, label="a_i [nats]")
    ax.set_title(f"Clause {clause_id}: word attributions under every variant")
    return fig
