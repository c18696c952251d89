"""stats.py - the statistics the plots and tables need, in plain Python.

Binomial pmf/cdf (the analytic nulls), the regularized incomplete beta function
(continued fraction, Numerical Recipes' betacf) and, from it, beta and Student-t
quantiles by bisection: enough for Clopper-Pearson intervals and t-intervals
without SciPy. Summaries over replicate seeds: mean with a 95 % t-interval when
there are at least 3 values, else min-max.
"""
import math
from typing import NamedTuple, Sequence

CONFIDENCE = 0.95
T_INTERVAL_MIN_N = 3  # fewer values than this: the interval is min-max


def binom_pmf(k: int, n: int, p: float) -> float:
    if k < 0 or k > n:
        return 0.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
           + k * math.log(p) + (n - k) * math.log1p(-p))
    return math.exp(log)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(binom_pmf(i, n, p) for i in range(k + 1)))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _bisect(f, lo: float, hi: float, target: float, iters: int = 200) -> float:
    """x in [lo, hi] with f(x) = target, f increasing."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(1.0, abs(mid)):
            break
    return 0.5 * (lo + hi)


def beta_ppf(q: float, a: float, b: float) -> float:
    """The q-quantile of Beta(a, b)."""
    return _bisect(lambda x: betainc(a, b, x), 0.0, 1.0, q)


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t with df degrees of freedom (0 < q < 1)."""
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    hi = 1.0
    while t_cdf(hi, df) < q:
        hi *= 2.0
    return _bisect(lambda t: t_cdf(t, df), 0.0, hi, q)


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE):
    """Exact two-sided interval (lo, hi) for a binomial proportion, k of n."""
    if n <= 0:
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else beta_ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else beta_ppf(1 - alpha / 2, k + 1, n - k)
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
