#!/usr/bin/python3
"""tables.py RESULTS.h5 [-o DIR] - paper-style tables of one experiment.

Writes DIR/tables.md (every table, Markdown) and one CSV per table
(DIR/table_<name>.csv), DIR defaulting to a folder beside the results file:

  accuracy    base vs. marked test accuracy per scheme and secret size
  wb_prune    white-box BER and accuracy against the pruning rate, per scope
  bb_prune    black-box mismatches and accuracy against the pruning rate
  finetune    both marks and accuracy after fine-tuning, per mode and epochs
  overwrite   the owner's mark after the attacker embeds their own
  other       quantization, weight noise, permutation, dummy neurons
  null        false-claim rates of unmarked models: empirical (Clopper-Pearson
              95 % interval) against the analytic binomial null
  failed      the cells that failed, with their reasons

Markdown cells read "mean (lo–hi)": the mean over replicate seeds with a 95 %
t-interval (3 or more seeds) or the min-max range; "claims" counts the checks
that would claim ownership. The CSVs hold the same numbers, unformatted.
Exit status 2 (and a one-line message) when the file is not a results file.
"""
import csv
import math
import os
import sys
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cli  # noqa: E402
import series  # noqa: E402
import stats  # noqa: E402
from resultsfile import scheme_name as pretty  # noqa: E402
from series import mark_metric  # noqa: E402
from series import METRICS  # noqa: E402


class Claims(NamedTuple):
    """k of n checks would claim ownership."""
    k: int
    n: int


class Interval(NamedTuple):
    lo: float
    hi: float


class Col:
    """A column: heading and how a value is written (a Summary, Claims, an Interval,
    a number or a string)."""

    def __init__(self, heading, metric=None, fmt="%s"):
        self.heading, self.metric, self.fmt = heading, metric, fmt

    def markdown(self, v):
        if isinstance(v, stats.Summary):
            if v.n == 0:
                return "–"
            f = METRICS[self.metric].fmt
            if v.n == 1 or v.lo == v.hi == v.mean:
                return f % v.mean
            return "%s (%s–%s)" % (f % v.mean, f % v.lo, f % v.hi)
        if isinstance(v, Claims):
            return "%d/%d" % v if v.n else "–"
        if isinstance(v, Interval):
            return "%s–%s" % (self.fmt % v.lo, self.fmt % v.hi)
        if isinstance(v, float) and math.isnan(v):
            return "–"
        return self.fmt % v

    def csv_heads(self, sample):
        """CSV column names, given a value of this column (its type decides)."""
        h = _csv_name(self.heading)
        if isinstance(sample, stats.Summary):
            return [h, h + "_lo", h + "_hi", h + "_n"]
        if isinstance(sample, Claims):
            return [h, h + "_checked"]
        if isinstance(sample, Interval):
            return [h + "_lo", h + "_hi"]
        return [h]

    def csv(self, v):
        if isinstance(v, stats.Summary):
            return [_num(v.mean), _num(v.lo), _num(v.hi), v.n]
        if isinstance(v, (Claims, Interval)):
            return [_num(x) for x in v]
        return [_num(v) if isinstance(v, float) else v]


CSV_WORDS = {"%": "pct", "Δ": "delta ", "θ": "theta", "'": ""}


def _csv_name(heading):
    for a, b in CSV_WORDS.items():
        heading = heading.replace(a, b)
    out = "".join(c if c.isascii() and c.isalnum() else "_" for c in heading.lower())
    return "_".join(p for p in out.split("_") if p)


def _num(x):
    return "" if isinstance(x, float) and math.isnan(x) else "%.6g" % x


def claims(cells):
    return Claims(*series.owned_count(cells))


class Table:
    def __init__(self, name, title, cols, note=""):
        self.name, self.title, self.cols, self.note, self.rows = name, title, cols, note, []

    def add(self, *values):
        assert len(values) == len(self.cols)
        self.rows.append(values)

    def markdown(self):
        out = ["## %s" % self.title, ""]
        if self.note:
            out += [self.note, ""]
        out.append("| " + " | ".join(c.heading for c in self.cols) + " |")
        out.append("|" + "|".join("---" for _ in self.cols) + "|")
        for r in self.rows:
            out.append("| " + " | ".join(c.markdown(v) for c, v in zip(self.cols, r)) + " |")
        return "\n".join(out) + "\n"

    def write_csv(self, path):
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([h for c, v in zip(self.cols, self.rows[0]) for h in c.csv_heads(v)])
            for r in self.rows:
                w.writerow([x for c, v in zip(self.cols, r) for x in c.csv(v)])


def mark_col(scheme, prefix=""):
    return Col(prefix + ("BER %" if scheme == "whitebox" else "mismatches m"), mark_metric(scheme))


# ---------------------------------------------------------------- the tables

def table_accuracy(rf):
    emb = rf.cells.where(kind="embed").done()
    if not len(emb):
        return None
    t = Table("accuracy", "Base vs. marked test accuracy",
              [Col("scheme"), Col("N bits / K keys", fmt="%g"), Col("seeds", fmt="%d"),
               Col("base acc %", "acc_before"), Col("marked acc %", "acc_after"),
               Col("Δacc pp", "acc_change"), Col("BER %", "ber"), Col("mismatches m", "mismatches"),
               Col("claims")],
              stats.INTERVAL_NOTE + ". BER and mismatches of the freshly marked model.")
    none = stats.summarize([])
    for scheme in rf.schemes:
        sel = emb.where(scheme=scheme)
        for size in sel.unique("strength"):
            c = sel.where(strength=size)
            t.add(pretty(scheme), size, len(c.unique("seed")),
                  series.overall(c, "acc_before"), series.overall(c, "acc_after"),
                  series.overall(c, "acc_change"),
                  series.overall(c, "ber") if scheme == "whitebox" else none,
                  series.overall(c, "mismatches") if scheme == "blackbox" else none,
                  claims(c))
    return t


def _attack_table(rf, name, title, attack, scheme, xhead, xscale=1.0):
    """Rows: strengths; for each variant: the owner's mark, accuracy, claims."""
    cells = rf.cells.where(kind="attack", attack=attack, scheme=scheme)
    if not len(cells.done()):
        return None
    variants = cells.variants()
    cols = [Col(xhead, fmt="%g")]
    for v in variants:
        p = v + " " if v else ""
        cols += [mark_col(scheme, p), Col(p + "acc %", "acc_after"), Col(p + "claims")]
    theta = series.common(cells.done(), "theta")
    note = stats.INTERVAL_NOTE + "."
    if scheme == "blackbox" and theta is not None:
        note += " Claim iff m < θ = %d (K = %s keys)." % (theta, series.common(cells.done(), "keys"))
    t = Table(name, title, cols, note)
    for x in cells.unique("strength"):
        row = [x * xscale]
        for v in variants:
            c = cells.where(variant=v, strength=x)
            row += [series.overall(c, mark_metric(scheme)), series.overall(c, "acc_after"),
                    claims(c)]
        t.add(*row)
    return t


def table_finetune(rf):
    cells = rf.cells.where(kind="attack", attack="finetune")
    if not len(cells.done()):
        return None
    schemes = [s for s in rf.schemes if len(cells.where(scheme=s).done())]
    cols = [Col("mode"), Col("epochs", fmt="%g")]
    for s in schemes:
        p = "wb " if s == "whitebox" else "bb "
        cols += [mark_col(s, p), Col(p + "acc %", "acc_after"), Col(p + "claims")]
    t = Table("finetune", "Fine-tuning", cols, stats.INTERVAL_NOTE + ".")
    for mode in cells.variants():
        for ep in cells.where(variant=mode).unique("strength"):
            row = [mode.upper(), ep]
            for s in schemes:
                c = cells.where(variant=mode, strength=ep, scheme=s)
                row += [series.overall(c, mark_metric(s)), series.overall(c, "acc_after"),
                        claims(c)]
            t.add(*row)
    return t


def table_overwrite(rf):
    cells = rf.cells.where(kind="attack", attack="overwrite")
    if not len(cells.done()):
        return None
    t = Table("overwrite", "Overwriting (the attacker embeds a mark of their own)",
              [Col("scheme"), Col("attacker's N' / K'", fmt="%g"), Col("owner's BER %", "ber"),
               Col("owner's mismatches m", "mismatches"), Col("acc %", "acc_after"), Col("claims")],
              stats.INTERVAL_NOTE + ".")
    none = stats.summarize([])
    for s in rf.schemes:
        sel = cells.where(scheme=s)
        for x in sel.unique("strength"):
            c = sel.where(strength=x)
            t.add(pretty(s), x,
                  series.overall(c, "ber") if s == "whitebox" else none,
                  series.overall(c, "mismatches") if s == "blackbox" else none,
                  series.overall(c, "acc_after"), claims(c))
    return t


def table_other(rf):
    cells = rf.cells.where(kind="attack", attack=list(rf.other_attacks))
    if not len(cells.done()):
        return None
    t = Table("other", "Other removal attacks",
              [Col("attack"), Col("variant"), Col("strength", fmt="%g"),
               Col("wb BER % unaligned", "ber_unaligned"), Col("wb BER %", "ber"), Col("wb realigned"),
               Col("wb acc %", "acc_after"), Col("wb claims"),
               Col("bb mismatches m", "mismatches"), Col("bb acc %", "acc_after"), Col("bb claims")],
              stats.INTERVAL_NOTE + ". Strength: quantization bits, noise σ, dummy neurons, scale "
              "log-range. White-box BER before and after realignment to the key's reference "
              "(unaligned: not checkable when dummy units widen the layer); the claim rests on "
              "the second.")
    for attack in rf.other_attacks:
        sel = cells.where(attack=attack)
        for v in sel.variants():
            for x in sel.where(variant=v).unique("strength"):
                wb = sel.where(variant=v, strength=x, scheme="whitebox")
                bb = sel.where(variant=v, strength=x, scheme="blackbox")
                t.add(attack, v or "–", x,
                      series.overall(wb, "ber_unaligned"), series.overall(wb, "ber"),
                      Claims(*series.aligned_count(wb)), series.overall(wb, "acc_after"), claims(wb),
                      series.overall(bb, "mismatches"), series.overall(bb, "acc_after"),
                      claims(bb))
    return t


def table_null(rf):
    nulls = rf.cells.where(kind="null").done()
    if not len(nulls):
        return None
    t = Table("null", "Null calibration: false claims on unmarked models",
              [Col("scheme"), Col("bits / keys", fmt="%d"), Col("claim rule"), Col("nulls", fmt="%d"),
               Col("false claims"), Col("empirical FPR %", fmt="%.2f"), Col("FPR 95% CP %", fmt="%.2f"),
               Col("analytic FPR %", fmt="%.3g"), Col("mean BER % / m", fmt="%.2f"),
               Col("realigned")],
              "Unmarked models (other seeds) checked with the owner's keys. Analytic: white-box "
              "errors ~ Binomial(bits, 1/2), claim iff P(Bin <= errors) < α; black-box mismatches "
              "~ Binomial(K, 1 - 1/C), C = %d, claim iff m < θ. Clopper-Pearson 95 %% interval. "
              "White-box keys with a reference try realignment on every null (realigned: the "
              "nulls whose alignment was trusted and so decided; docs/guarantees.md)."
              % rf.classes)
    for s in rf.schemes:
        sel = nulls.where(scheme=s)
        col = "bits" if s == "whitebox" else "keys"
        for size in sel.unique(col):
            c = sel.where(**{col: size})
            k, n = series.owned_count(c)
            lo, hi = stats.clopper_pearson(k, n)
            if s == "whitebox":
                rule = "p < %g" % rf.wb_alpha
                analytic = stats.wb_null_fpr(size, rf.wb_alpha)
            else:
                theta = series.common(c, "theta")
                rule = "m < θ = %d" % theta
                analytic = stats.bb_null_fpr(size, theta, rf.classes)
            t.add(pretty(s), size, rule, n, Claims(k, n), 100.0 * k / n if n else math.nan,
                  Interval(100 * lo, 100 * hi), 100.0 * analytic,
                  series.overall(c, mark_metric(s)).mean,
                  Claims(*series.aligned_count(c)) if s == "whitebox" else "–")
    return t


def table_failed(rf):
    """Failed cells, and done cells with a reason (the owner's check could not be
    made on the attacked model: no BER or mismatches, no claim)."""
    bad = [r for r in rf.cells.rows() if r["status"] != "done" or r["reason"]]
    if not bad:
        return None
    t = Table("failed", "Failed cells and checks that could not be made",
              [Col("status"), Col("kind"), Col("scheme"), Col("attack"), Col("variant"),
               Col("strength", fmt="%g"), Col("seed", fmt="%d"), Col("id"), Col("reason")],
              "Failed cells are left out of every other table; a done cell listed here "
              "counts as checked without a claim, and its BER or mismatches show as –.")
    for r in bad:
        t.add(r["status"], r["kind"], pretty(r["scheme"]) or "–", r["attack"] or "–",
              r["variant"] or "–", r["strength"], r["seed"], r["id"], r["reason"].replace("|", "/"))
    return t


def main():
    whole, outdir = cli.start(__doc__.split("\n")[0], "tables")
    models = whole.by_model()
    md = ["# %s: results tables" % whole.name, "",
          "From `%s` (%d cells, %d failed)." % (os.path.basename(whole.path), len(whole.cells),
                                               len(whole.cells.failed())), ""]
    if len(models) > 1:
        md += ["The file holds cells of %d different model configurations (a sweep resumed with "
               "--force on another spec); each has its own tables below, never averaged together."
               % len(models), ""]
        print("note: %d model configurations in %s: tables for each" % (len(models), whole.path))
    written = []
    for k, (label, rf) in enumerate(models, 1):
        suffix = "_model%d" % k if label else ""
        if label:
            md += ["# %s" % label, ""]
        builders = [
            ("accuracy", lambda: table_accuracy(rf)),
            ("wb_prune", lambda: _attack_table(rf, "wb_prune", "White-box watermark under pruning",
                                               "prune", "whitebox", "rate %", 100.0)),
            ("bb_prune", lambda: _attack_table(rf, "bb_prune", "Black-box watermark under pruning",
                                               "prune", "blackbox", "rate %", 100.0)),
            ("finetune", lambda: table_finetune(rf)),
            ("overwrite", lambda: table_overwrite(rf)),
            ("other", lambda: table_other(rf)),
            ("null", lambda: table_null(rf)),
            ("failed", lambda: table_failed(rf)),
        ]
        for name, build in builders:
            t = build()
            if t is None:
                print("skipped: table_%s%s: no cells for it" % (name, suffix))
                continue
            md.append(t.markdown())
            path = os.path.join(outdir, "table_%s%s.csv" % (name, suffix))
            t.write_csv(path)
            written.append(path)
    path = os.path.join(outdir, "tables.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    cli.report_written([path] + written)


if __name__ == "__main__":
    main()
