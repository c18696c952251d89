#!/usr/bin/python3
"""plot_robustness.py RESULTS.h5 [-o DIR] - the robustness figures of one experiment.

Reads only the results file and writes, as PNG and PDF, to DIR (default: a
folder beside the file, named after it):

  fig_wb_prune    white-box BER and test accuracy against the pruning rate
  fig_bb_prune    black-box key mismatches (with theta) and accuracy against the rate
  fig_finetune    BER, black-box detection m/theta and accuracy against epochs, per mode
  fig_overwrite   the owner's BER against the attacker's N', mismatches against K'
  fig_capacity    BER and marked accuracy against the number of bits N
  fig_null        null calibration: BER and mismatches of unmarked models, analytic pmf
  fig_other       quantization, weight noise, permutation, dummy neurons

Points are means over replicate seeds with a 95 % t-interval (3 or more seeds)
or the min-max range. A figure with no cells to draw is skipped with a note.
Exit status 2 (and a one-line message) when the file is not a results file.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import blended_transform_factory as blended  # noqa: E402

import cli  # noqa: E402
import series  # noqa: E402
import stats  # noqa: E402
from resultsfile import scheme_name as pretty  # noqa: E402
from series import METRICS  # noqa: E402

SCHEME_STYLE = {"whitebox": "-", "blackbox": "--"}
SCHEME_COLOR = {"whitebox": "tab:blue", "blackbox": "tab:orange"}
VARIANT_COLOR = {
    "layer": "tab:blue", "global": "tab:orange",
    "ftal": "tab:blue", "ftll": "tab:orange", "rtll": "tab:green", "rtal": "tab:red",
}
VARIANT_MARKER = {"layer": "o", "global": "s", "ftal": "o", "ftll": "s", "rtll": "^", "rtal": "D"}
CHANCE_BER = 50.0  # % : the BER of random bits
DODGE = 0.008      # horizontal shift between series in one panel, as a fraction of the x range


class Skip(Exception):
    """A figure has nothing to draw; the message says why."""


# ---------------------------------------------------------------- drawing helpers

def draw(ax, points, label, xscale=1.0, color=None, linestyle="-", marker="o", dodge=0.0,
         band=True, hollow=False):
    """A series [(x, Summary)]: line through the means, band and bars for the interval.
    dodge shifts it sideways (in units of DODGE of the x range) so that equal
    series in one panel stay visible."""
    pts = [(x * xscale, s) for x, s in points if s.n > 0]
    if not pts:
        return
    x = np.array([p[0] for p in pts])
    if dodge:
        span = x.max() - x.min()
        x = x + dodge * DODGE * (span if span > 0 else 6.0)  # one point: the axis spans x ± 1
    m = np.array([p[1].mean for p in pts])
    lo = np.array([p[1].lo for p in pts])
    hi = np.array([p[1].hi for p in pts])
    line = ax.errorbar(x, m, yerr=[m - lo, hi - m], label=label, color=color,
                       linestyle=linestyle, marker=marker, markersize=4, capsize=3, linewidth=1.5,
                       markerfacecolor="white" if hollow else None)
    if band:
        ax.fill_between(x, lo, hi, color=line[0].get_color(), alpha=0.12, linewidth=0)


def dodges(n):
    """Offsets -k .. k for n series."""
    return [i - (n - 1) / 2 for i in range(n)]


def hline(ax, y, label, color="tab:red", style="--"):
    ax.axhline(y, color=color, linestyle=style, linewidth=1.2, label=label)


def strength_ticks(ax, cells, most=8):
    """Ticks at the strengths themselves when there are few of them."""
    xs = cells.done().unique("strength")
    if 1 <= len(xs) <= most:
        ax.set_xticks(xs, ["%g" % x for x in xs])
    if len(xs) == 1:
        ax.set_xlim(xs[0] - 1, xs[0] + 1)


def finish_axes(ax, xlabel, metric=None, ylabel=None, full=True, keys=None):
    """Labels, grid, legend; full: a % axis spans 0-100 (else it zooms to the data);
    keys: a mismatch axis spans 0..K."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or METRICS[metric].label)
    ax.grid(True, alpha=0.3)
    if METRICS.get(metric) and METRICS[metric].hi == 100.0 and full:
        ax.set_ylim(-3, 103)
    if keys:
        ax.set_ylim(-0.5, keys + 0.5)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def style_legend(ax, variants, schemes):
    """A compact legend: colours/markers for variants, line styles for schemes."""
    h = [Line2D([], [], color=VARIANT_COLOR.get(v), marker=VARIANT_MARKER.get(v, "o"),
                markersize=4, label=v.upper()) for v in variants]
    h += [Line2D([], [], color="0.3", linestyle=SCHEME_STYLE[s], marker="o", markersize=4,
                 markerfacecolor="white" if s == "blackbox" else "0.3", label=pretty(s) + " model")
          for s in schemes]
    ax.legend(handles=h, fontsize=8)


class Figures:
    """Writes each figure as PNG and PDF and keeps the list of files."""

    def __init__(self, rf, outdir, suffix="", written=None):
        self.rf, self.outdir, self.suffix = rf, outdir, suffix
        self.written = [] if written is None else written
        self.cells = rf.cells
        bench = ", ".join(self.cells.unique("benchmark"))
        self.where = "%s (%s)" % (rf.name, bench) if bench else rf.name
        if rf.model_label:
            self.where += ", " + rf.model_label.split(":")[0]

    def new(self, ncols, title, nrows=1, width=5.0, height=4.0, sharex=False):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 squeeze=False, sharex=sharex)
        fig.suptitle("%s: %s" % (self.where, title), fontsize=11)
        return fig, axes.ravel()

    def save(self, fig, name, note=stats.INTERVAL_NOTE):
        if note:
            fig.text(0.5, 0.005, note, ha="center", va="bottom", fontsize=7, color="0.35")
        fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 0.95))
        for ext in ("png", "pdf"):
            path = os.path.join(self.outdir, "%s%s.%s" % (name, self.suffix, ext))
            fig.savefig(path, dpi=150 if ext == "png" else None)
            self.written.append(path)
        plt.close(fig)

    def attacks(self, attack, **where):
        return self.cells.where(kind="attack", attack=attack, **where)

    def schemes(self, cells):
        """The schemes with done cells among these, in display order."""
        return [s for s in self.rf.schemes if len(cells.where(scheme=s).done())]

    def marked_accuracy(self, scheme):
        """Mean accuracy of the marked models the attacks start from (embed cells)."""
        emb = self.cells.where(kind="embed", scheme=scheme, status="done")
        ids = set(self.cells.where(kind="attack", scheme=scheme)["key_id"])
        emb = emb.where(id=list(ids)) if ids else emb
        return series.overall(emb, "acc_after")

    def theta_line(self, ax, cells):
        th = series.common(cells.done(), "theta")
        if th is not None:
            hline(ax, th, "θ = %d (claim iff m < θ)" % th)


# ---------------------------------------------------------------- the figures

def fig_prune(F, scheme):
    cells = F.attacks("prune", scheme=scheme)
    if not len(cells.done()):
        raise Skip("no %s pruning cells" % pretty(scheme))
    metric = series.mark_metric(scheme)
    fig, (ax_m, ax_a) = F.new(2, "%s watermark under parameter pruning" % pretty(scheme))
    scopes = cells.variants()
    for scope, dx in zip(scopes, dodges(len(scopes))):
        sel = cells.where(variant=scope)
        style = dict(label="%s pruning" % scope if scope else "pruning", xscale=100.0,
                     color=VARIANT_COLOR.get(scope), marker=VARIANT_MARKER.get(scope, "o"), dodge=dx)
        draw(ax_m, series.by_strength(sel, metric), **style)
        draw(ax_a, series.by_strength(sel, "acc_after"), **style)
    if scheme == "whitebox":
        hline(ax_m, CHANCE_BER, "random bits (50 %)", color="0.5", style=":")
    else:
        F.theta_line(ax_m, cells)
    acc = F.marked_accuracy(scheme)
    if acc.n:
        hline(ax_a, acc.mean, "marked model, no attack (%.2f %%)" % acc.mean, color="0.4", style=":")
    ax_m.set_title("owner's mark after pruning", fontsize=10)
    ax_a.set_title("test accuracy of the pruned model", fontsize=10)
    xlabel = "pruning rate (% of weights set to zero)"
    finish_axes(ax_m, xlabel, metric, keys=series.common(cells.done(), "keys"))
    finish_axes(ax_a, xlabel, "acc_after")
    F.save(fig, "fig_%s_prune" % ("wb" if scheme == "whitebox" else "bb"))


def fig_finetune(F):
    cells = F.attacks("finetune")
    if not len(cells.done()):
        raise Skip("no fine-tuning cells")
    schemes = F.schemes(cells)
    panels = [("whitebox", "ber", "white-box: owner's BER"),
              ("blackbox", "detection", "black-box: owner's detection m / θ")]
    panels = [p for p in panels if p[0] in schemes]
    fig, axes = F.new(len(panels) + 1, "fine-tuning attacks on the marked model")
    modes = cells.variants()
    for ax, (scheme, metric, title) in zip(axes, panels):
        for mode, dx in zip(modes, dodges(len(modes))):
            sel = cells.where(scheme=scheme, variant=mode)
            draw(ax, series.by_strength(sel, metric), mode.upper(), color=VARIANT_COLOR.get(mode),
                 marker=VARIANT_MARKER.get(mode, "o"), dodge=dx)
        if metric == "detection":
            hline(ax, 1.0, "m = θ (claim iff m/θ < 1)")
        else:
            hline(ax, CHANCE_BER, "random bits (50 %)", color="0.5", style=":")
        ax.set_title(title, fontsize=10)
        finish_axes(ax, "fine-tuning epochs", metric)
        strength_ticks(ax, cells)
    ax = axes[-1]
    combos = [(scheme, mode) for scheme in schemes for mode in modes]
    for (scheme, mode), dx in zip(combos, dodges(len(combos))):
        sel = cells.where(scheme=scheme, variant=mode)
        draw(ax, series.by_strength(sel, "acc_after"), None, color=VARIANT_COLOR.get(mode),
             linestyle=SCHEME_STYLE[scheme], marker=VARIANT_MARKER.get(mode, "o"), dodge=dx,
             band=False, hollow=scheme == "blackbox")
    ax.set_title("test accuracy after fine-tuning", fontsize=10)
    finish_axes(ax, "fine-tuning epochs", "acc_after", full=False)
    style_legend(ax, modes, schemes)
    strength_ticks(ax, cells)
    F.save(fig, "fig_finetune")


def fig_overwrite(F):
    cells = F.attacks("overwrite")
    if not len(cells.done()):
        raise Skip("no overwriting cells")
    schemes = F.schemes(cells)
    fig, axes = F.new(len(schemes), "overwriting: the attacker embeds a mark of their own")
    for ax, scheme in zip(axes, schemes):
        sel = cells.where(scheme=scheme)
        if scheme == "whitebox":
            draw(ax, series.by_strength(sel, "ber"), "owner's BER", color="tab:blue")
            hline(ax, CHANCE_BER, "random bits (50 %)", color="0.5", style=":")
            ax.set_title("white-box: owner's mark after overwriting", fontsize=10)
            finish_axes(ax, "attacker's white-box bits N' (count)", "ber")
        else:
            draw(ax, series.by_strength(sel, "mismatches"), "owner's mismatches", color="tab:blue")
            F.theta_line(ax, sel)
            ax.set_title("black-box: owner's keys after overwriting", fontsize=10)
            finish_axes(ax, "attacker's black-box keys K' (count)", "mismatches",
                        keys=series.common(sel.done(), "keys"))
        strength_ticks(ax, sel)
    F.save(fig, "fig_overwrite")


def fig_capacity(F):
    emb = F.cells.where(kind="embed", scheme="whitebox")
    sizes = emb.done().unique("strength")
    if not sizes:
        raise Skip("no white-box embedding cells")
    if len(sizes) < 2:
        raise Skip("white-box marks of one size only (N = %g); capacity needs several N" % sizes[0])
    fig, (ax_b, ax_a) = F.new(2, "white-box capacity")
    draw(ax_b, series.by_strength(emb, "ber"), "BER after embedding", color="tab:blue")
    draw(ax_a, series.by_strength(emb, "acc_change"), "marked − base model, per seed",
         color="tab:blue")
    ax_a.axhline(0.0, color="0.4", linestyle=":", linewidth=1.2)
    base = series.overall(emb, "acc_before")
    ax_b.set_title("BER of the embedded signature", fontsize=10)
    ax_a.set_title("accuracy cost of the mark (base model: %.2f %%)" % base.mean, fontsize=10)
    xlabel = "signature bits N per target class (count, log scale)"
    finish_axes(ax_b, xlabel, "ber", full=False)
    ax_b.set_ylim(-0.5, max(5.0, ax_b.get_ylim()[1]))
    finish_axes(ax_a, xlabel, "acc_change", full=False)
    for ax in (ax_b, ax_a):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, ["%g" % s for s in sizes])
        ax.minorticks_off()
    F.save(fig, "fig_capacity")


def _fpr_text(cells, analytic):
    k, n = series.owned_count(cells)
    lo, hi = stats.clopper_pearson(k, n)
    return ("false claims %d/%d = %.2f %% (95 %% CP %.2f–%.2f %%), analytic %.2g %%"
            % (k, n, 100.0 * k / n if n else float("nan"), 100 * lo, 100 * hi, 100 * analytic))


def _null_panel(F, ax, scheme, cells):
    """One histogram of unmarked models with the analytic null; returns a note or None."""
    if scheme == "whitebox":
        bits = series.common(cells, "bits")
        same = cells.where(bits=bits)
        counts = np.asarray(same["bit_errors"])
        support = np.arange(bits + 1)
        x = 100.0 * support / bits
        pmf = stats.wb_null_errors_pmf(bits)
        analytic = stats.wb_null_fpr(bits, F.rf.wb_alpha)
        width = 100.0 / bits * 0.8
        claim = [e for e in support if stats.binom_cdf(e, bits, 0.5) < F.rf.wb_alpha]
        if claim:
            ax.axvspan(-width / 2, x[max(claim)] + width / 2, color="tab:red", alpha=0.15,
                       label="claim region (p < %g)" % F.rf.wb_alpha)
        xlabel = "bit-error rate (%)"
        null_name = "Binomial(%d, 1/2)" % bits
        title = "white-box, %d bits" % bits
        other = "%d white-box nulls with other bit counts left out"
    else:
        keys = series.common(cells, "keys")
        same = cells.where(keys=keys)
        counts = np.asarray(same["mismatches"])
        support = np.arange(keys + 1)
        x = support.astype(float)
        pmf = stats.bb_null_mismatches_pmf(keys, F.rf.classes)
        theta = series.common(same, "theta")
        analytic = stats.bb_null_fpr(keys, theta, F.rf.classes)
        width = 0.8
        ax.axvline(theta - 0.5, color="tab:red", linestyle="--", label="θ = %d: claim iff m < θ" % theta)
        xlabel = "key mismatches m (count, of K = %d keys)" % keys
        null_name = "Binomial(%d, 1 - 1/%d)" % (keys, F.rf.classes)
        title = "black-box, K = %d keys" % keys
        other = "%d black-box nulls with other key counts left out"
    observed = np.bincount(counts[counts >= 0], minlength=len(support))[:len(support)]
    ax.bar(x, observed, width=width, color="tab:blue", alpha=0.7,
           label="unmarked models (n = %d)" % len(same))
    ax.plot(x, len(same) * np.asarray(pmf), "o-", color="black", markersize=3, linewidth=1,
            label="analytic null: n × %s pmf" % null_name)
    ax.set_title("%s\n%s" % (title, _fpr_text(same, analytic)), fontsize=9)
    top = max(observed.max(), len(same) * max(pmf))
    ax.set_ylim(0, 1.6 * top)  # room for the legend above the bars
    finish_axes(ax, xlabel, ylabel="unmarked models (count)")
    return other % (len(cells) - len(same)) if len(same) < len(cells) else None


def fig_null(F):
    nulls = F.cells.where(kind="null").done()
    schemes = F.schemes(nulls)
    if not schemes:
        raise Skip("no null cells")
    fig, axes = F.new(len(schemes), "null calibration: unmarked models checked with the owner's keys",
                      width=6.0, height=4.5)
    notes = [_null_panel(F, ax, s, nulls.where(scheme=s)) for ax, s in zip(axes, schemes)]
    notes = [n for n in notes if n]
    F.save(fig, "fig_null", note="; ".join(notes) if notes else None)


def _other_label(attack, variant, strength):
    if attack == "quantize":
        return "quantize\n%g bits" % strength
    if attack == "noise":
        return "noise\nσ = %g" % strength
    if attack == "dummy":
        return "dummy\n%s\n%g neurons" % (variant, strength)
    return attack


def fig_other(F):
    cells = F.cells.where(kind="attack", attack=list(F.rf.other_attacks))
    if not len(cells.done()):
        raise Skip("no quantize/noise/permute/dummy cells")
    groups = []
    for attack in F.rf.other_attacks:
        sel = cells.where(attack=attack)
        for variant in sel.variants():
            for strength in sel.where(variant=variant).unique("strength"):
                groups.append((attack, variant, strength))
    schemes = F.schemes(cells)
    panels = [("whitebox", "ber", "white-box: owner's BER"),
              ("blackbox", "mismatches", "black-box: owner's key mismatches")]
    panels = [p for p in panels if p[0] in schemes] + [(None, "acc_after", "test accuracy after the attack")]
    fig, axes = F.new(1, "other removal attacks", nrows=len(panels),
                      width=max(8.0, 1.1 * len(groups)), height=2.8, sharex=True)
    xs = np.arange(len(groups))
    for ax, (scheme, metric, title) in zip(axes, panels):
        drawn = [scheme] if scheme else schemes
        for sch, dx in zip(drawn, dodges(len(drawn))):
            summ = [series.overall(cells.where(scheme=sch, attack=a, variant=v, strength=x), metric)
                    for a, v, x in groups]
            m = np.array([s.mean for s in summ])
            ax.errorbar(xs + 0.2 * dx, m, yerr=[m - [s.lo for s in summ], [s.hi for s in summ] - m],
                        fmt="o" if sch == "whitebox" else "s", capsize=3,
                        label="%s model" % pretty(sch), color=SCHEME_COLOR[sch])
            for x, s, (a, v, st) in zip(xs, summ, groups):
                ran = len(cells.where(scheme=sch, attack=a, variant=v, strength=st).done())
                if ran and not s.n:  # done, but the owner's check could not be made
                    ax.text(x + 0.2 * dx, 0.8, "check not\npossible\n(see tables)", ha="center", va="center",
                            fontsize=7, color="0.35", transform=blended(ax.transData, ax.transAxes))
        if metric == "mismatches":
            F.theta_line(ax, cells.where(scheme="blackbox"))
        if metric == "ber":
            hline(ax, CHANCE_BER, "random bits (50 %)", color="0.5", style=":")
        ax.set_title(title, fontsize=10)
        finish_axes(ax, "", metric, full=scheme is not None,
                    keys=series.common(cells.where(scheme="blackbox").done(), "keys")
                    if metric == "mismatches" else None)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    axes[-1].set_xticks(xs, [_other_label(*g) for g in groups], fontsize=8)
    axes[-1].set_xlim(-0.6, len(groups) - 0.4)
    axes[-1].set_xlabel("attack and strength")
    F.save(fig, "fig_other")


def main():
    whole, outdir = cli.start(__doc__.split("\n")[0], "figures")
    failed = whole.cells.failed()
    if len(failed):
        print("note: %d failed cell(s) left out of every figure" % len(failed))
    models = whole.by_model()
    if len(models) > 1:
        print("note: %d model configurations in %s: figures for each (_model1, _model2, ...)"
              % (len(models), whole.path))
    written = []
    for k, (label, rf) in enumerate(models, 1):
        F = Figures(rf, outdir, "_model%d" % k if label else "", written)
        jobs = [("fig_wb_prune", lambda: fig_prune(F, "whitebox")),
                ("fig_bb_prune", lambda: fig_prune(F, "blackbox")),
                ("fig_finetune", lambda: fig_finetune(F)),
                ("fig_overwrite", lambda: fig_overwrite(F)),
                ("fig_capacity", lambda: fig_capacity(F)),
                ("fig_null", lambda: fig_null(F)),
                ("fig_other", lambda: fig_other(F))]
        for name, job in jobs:
            try:
                job()
            except Skip as e:
                print("skipped: %s%s: %s" % (name, F.suffix, e))
    cli.report_written(written)


if __name__ == "__main__":
    main()
