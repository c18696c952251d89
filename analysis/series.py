"""series.py - from cells to what is plotted and tabulated.

A metric is a per-cell number in display units (BER and accuracy in %, mismatches
as a count, detection as mismatches / theta). A series groups cells by strength
and summarizes each group over its replicate seeds (stats.summarize). Failed
cells carry NaN metrics and so drop out of every summary.
"""
from collections import Counter
from typing import NamedTuple

import numpy as np

import stats


class Metric(NamedTuple):
    label: str   # axis label with unit
    fmt: str     # number format in tables
    lo: float    # the range of possible values: intervals are clipped to it
    hi: float


INF = float("inf")
METRICS = {
    "ber": Metric("bit-error rate (%)", "%.2f", 0.0, 100.0),
    "ber_unaligned": Metric("bit-error rate without realignment (%)", "%.2f", 0.0, 100.0),
    "acc_after": Metric("test accuracy (%)", "%.2f", 0.0, 100.0),
    "acc_before": Metric("test accuracy (%)", "%.2f", 0.0, 100.0),
    "acc_change": Metric("accuracy change (percentage points)", "%+.2f", -100.0, 100.0),
    "mismatches": Metric("key mismatches m (count)", "%.1f", 0.0, INF),
    "detection": Metric("detection m / θ (ratio)", "%.2f", 0.0, INF),
}


def mark_metric(scheme):
    """How the owner's mark is measured: BER (white-box) or key mismatches (black-box)."""
    return "ber" if scheme == "whitebox" else "mismatches"


def _numbers(cells, column):
    """A column as float, with the integer 'unset' marker -1 as NaN."""
    col = np.asarray(cells[column], dtype=float)
    if np.asarray(cells[column]).dtype.kind in "iu":
        col = np.where(col < 0, np.nan, col)
    return col


def values(cells, metric):
    """Per-cell values of a metric in display units."""
    if metric in ("ber", "ber_unaligned", "acc_after", "acc_before"):
        return _numbers(cells, metric) * 100.0
    if metric == "acc_change":
        return (_numbers(cells, "acc_after") - _numbers(cells, "acc_before")) * 100.0
    if metric == "detection":
        theta = _numbers(cells, "theta")
        with np.errstate(invalid="ignore", divide="ignore"):
            return _numbers(cells, "mismatches") / np.where(theta > 0, theta, np.nan)
    return _numbers(cells, metric)


def _summary(v, metric, cells):
    """stats.summarize, with the interval clipped to what the metric can be
    (0 .. 100 %, 0 .. K mismatches)."""
    s = stats.summarize(v)
    if not s.n:
        return s
    lo, hi = METRICS[metric].lo, METRICS[metric].hi
    if metric == "mismatches":
        hi = common(cells, "keys") or hi
    return s._replace(lo=min(max(s.lo, lo), hi), hi=min(max(s.hi, lo), hi))


def by_strength(cells, metric):
    """[(strength, Summary)] over distinct strengths, ascending."""
    x = np.asarray(cells["strength"], dtype=float)
    v = values(cells, metric)
    return [(s, _summary(v[x == s], metric, cells))
            for s in sorted(set(x[np.isfinite(x)].tolist()))]


def overall(cells, metric):
    """One Summary over all the given cells."""
    return _summary(values(cells, metric), metric, cells)


def owned_count(cells):
    """(claims, checked): cells with owned == 1 among those with a verdict."""
    owned = np.asarray(cells["owned"])
    return int((owned == 1).sum()), int((owned >= 0).sum())


def aligned_count(cells):
    """(realigned, checked): white-box cells whose figures are realigned."""
    aligned = np.asarray(cells["aligned"])
    owned = np.asarray(cells["owned"])
    return int((aligned == 1).sum()), int((owned >= 0).sum())


def common(cells, column):
    """The most frequent value of an integer column (theta, keys, bits), or None."""
    v = [int(x) for x in np.asarray(cells[column]) if x >= 0]
    return Counter(v).most_common(1)[0][0] if v else None
