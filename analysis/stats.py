"""stats.py - the statistics the plots and tables need, from scipy.stats.

Binomial pmf/cdf (the analytic nulls), Clopper-Pearson intervals (beta
quantiles) and Student-t intervals. Summaries over replicate seeds: mean with a
95 % t-interval when there are at least 3 values, else min-max.
"""
import math
from typing import NamedTuple, Sequence

from scipy import stats as sps

CONFIDENCE = 0.95
T_INTERVAL_MIN_N = 3  # fewer values than this: the interval is min-max


def binom_pmf(k: int, n: int, p: float) -> float:
    return float(sps.binom.pmf(k, n, p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k)."""
    return float(sps.binom.cdf(k, n, p))


def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t with df degrees of freedom (0 < q < 1)."""
    return float(sps.t.ppf(q, df))


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE):
    """Exact two-sided interval (lo, hi) for a binomial proportion, k of n."""
    if n <= 0:
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(sps.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)


# ---------------------------------------------------------------- analytic nulls

def wb_null_errors_pmf(bits: int):
    """White-box null: bit errors ~ Binomial(bits, 1/2); list indexed by errors."""
    return [binom_pmf(e, bits, 0.5) for e in range(bits + 1)]


def bb_null_mismatches_pmf(keys: int, classes: int):
    """Black-box null: mismatches ~ Binomial(K, 1 - 1/C); list indexed by m."""
    return [binom_pmf(m, keys, 1.0 - 1.0 / classes) for m in range(keys + 1)]


def wb_null_fpr(bits: int, alpha: float) -> float:
    """P(claim) under the white-box null: the claim is P(Bin(bits,1/2) <= errors) < alpha."""
    fpr = 0.0
    for e in range(bits + 1):
        c = binom_cdf(e, bits, 0.5)
        if c >= alpha:
            break
        fpr = c
    return fpr


def bb_null_fpr(keys: int, theta: int, classes: int) -> float:
    """P(claim) under the black-box null: the claim is mismatches < theta."""
    return binom_cdf(theta - 1, keys, 1.0 - 1.0 / classes)


# ---------------------------------------------------------------- summaries

class Summary(NamedTuple):
    """Mean of the finite values with an interval (lo, hi); kind 't95' or 'minmax'."""
    mean: float
    lo: float
    hi: float
    n: int
    kind: str


def summarize(values: Sequence[float]) -> Summary:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    n = len(v)
    if n == 0:
        return Summary(math.nan, math.nan, math.nan, 0, "none")
    mean = sum(v) / n
    if n >= T_INTERVAL_MIN_N:
        sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
        half = t_ppf(0.5 + CONFIDENCE / 2, n - 1) * sd / math.sqrt(n)
        return Summary(mean, mean - half, mean + half, n, "t95")
    return Summary(mean, min(v), max(v), n, "minmax")


INTERVAL_NOTE = (f"mean over seeds; interval: 95 % t-interval (>= {T_INTERVAL_MIN_N} seeds) "
                 "or min-max")
