"""resultsfile.py - read a deepsigns results file (include/deepsigns/results.h).

    rf = resultsfile.load("results/x.h5")     # raises ResultsFileError
    rf.attrs["name"], rf.classes, rf.wb_alpha
    prune = rf.cells.where(kind="attack", attack="prune", scheme="whitebox")
    prune["strength"], prune["ber"]            # numpy arrays; strings decoded to str
    for label, sub in rf.by_model(): ...       # one ResultsFile per model configuration

A results file is HDF5 with the root attribute magic = "DEEPSIGNS-RESULTS" and a
1-D compound dataset /cells, one row per cell (docs/results-file.md). A cell
run again after a failure appends a row with the same id: only the latest row
of each id is kept. Fixed-length byte strings are decoded to Python str; unused
numbers are NaN (doubles) or -1 (integers); the seed column is uint64 in every
format (format 1 stored the seed's bits as int64; they are read back as uint64).
load() warns on stderr when the file holds keys and group or others may read or
write it, and when its status is not "complete" (a sweep still running, stopped
or failed: the tables then cover only part of the experiment).
"""
import os
import stat
import sys

import h5py
import numpy as np

MAGIC = "DEEPSIGNS-RESULTS"
SUPPORTED_FORMATS = (1, 2, 3, 4, 5)  # 1: int64 seed column; 2: uint64; 3: config, commitment, /runs;
                                     # 4: models and keys in the blob store <file>.blobs/;
                                     # 5: ber_unaligned, aligned, align_corr (realignment)
DEFAULT_CLASSES = 10        # C of the black-box null Binomial(K, 1 - 1/C)
DEFAULT_WB_ALPHA = 1e-4     # white-box claim: P(Bin(bits, 1/2) <= errors) < alpha

# The /cells fields (results.h, struct ds_result_row).
STRING_FIELDS = ("id", "parent", "key_id", "kind", "benchmark", "scheme", "attack",
                 "variant", "status", "reason")
NUMBER_FIELDS = ("strength", "seed", "acc_before", "acc_after", "ber", "ber_p",
                 "bit_errors", "bits", "mismatches", "keys", "theta", "bb_p", "owned",
                 "realised", "delta_l2", "seconds", "rank")
REQUIRED_FIELDS = STRING_FIELDS + NUMBER_FIELDS
OPTIONAL_STRING_FIELDS = ("config", "commitment")   # format 3; "" in older files
# format 5, with the value an older file reads as: the white-box BER without
# realignment (a file before format 5 never realigned: its ber), whether the
# figures are realigned (0), the alignment's mean pair correlation (NaN)
OPTIONAL_NUMBER_FIELDS = {"ber_unaligned": None, "aligned": 0, "align_corr": float("nan")}

# The vocabulary of the kind/scheme/attack/variant columns, in display order:
# what a file written before format 3 used (a file of format 3 states its own in
# the root attributes vocab_attacks, vocab_variants and vocab_schemes, which
# ResultsFile.attacks/.variants/.schemes read).
SCHEMES = ("whitebox", "blackbox")
SCHEME_NAMES = {"whitebox": "white-box", "blackbox": "black-box"}
ATTACKS = ("prune", "finetune", "overwrite", "quantize", "noise", "permute", "dummy")
VARIANTS = {"prune": ("layer", "global"), "finetune": ("ftal", "ftll", "rtll", "rtal"),
            "dummy": ("clique", "split")}
OTHER_ATTACKS = ATTACKS[3:]  # quantize, noise, permute, dummy: beyond the paper, one summary


def scheme_name(scheme):
    """whitebox -> white-box (for people)."""
    return SCHEME_NAMES.get(scheme, scheme)


class ResultsFileError(Exception):
    """The file is missing, not HDF5, or not a deepsigns results file."""


def _decode(value):
    """An attribute value as str/int/float (h5py gives bytes, numpy scalars or arrays)."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace").rstrip("\0")
    if isinstance(value, np.ndarray):
        if value.shape == () or value.size == 1:
            return _decode(value.reshape(-1)[0])
        return [_decode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Cells:
    """A selection of /cells rows: columns by name as numpy arrays (strings as str)."""

    def __init__(self, columns, index=None, variant_order=None):
        self._columns = columns
        self._variant_order = variant_order or [v for vs in VARIANTS.values() for v in vs]
        n = len(next(iter(columns.values()))) if columns else 0
        self._index = np.arange(n) if index is None else index

    def __len__(self):
        return len(self._index)

    def __getitem__(self, name):
        return self._columns[name][self._index]

    def where(self, **conditions):
        """Rows whose columns equal the given values (a tuple/list: any of them)."""
        keep = np.ones(len(self._index), dtype=bool)
        for name, want in conditions.items():
            col = self[name]
            if isinstance(want, (tuple, list, set)):
                keep &= np.isin(col, list(want))
            else:
                keep &= col == want
        return Cells(self._columns, self._index[keep], self._variant_order)

    def done(self):
        return self.where(status="done")

    def failed(self):
        return self.where(status="failed")

    def unique(self, name):
        """Sorted distinct values of a column, without "" (strings) and NaN (numbers)."""
        col = self[name]
        if col.dtype.kind in "US":
            return sorted(set(col) - {""})
        col = col[np.isfinite(col)] if col.dtype.kind == "f" else col
        return sorted(set(col.tolist()))

    def ordered(self, name, order):
        """The distinct values of a column present here: those in `order` first, in
        that order, then any others sorted."""
        present = self.unique(name)
        return [v for v in order if v in present] + [v for v in present if v not in order]

    def variants(self):
        """The variants present, in display order (one "" when the attack has none)."""
        return self.ordered("variant", self._variant_order) or [""]

    def rows(self):
        """The selected rows as dicts (for messages and tests)."""
        return [{k: v[i] for k, v in self._columns.items()} for i in self._index]


class ResultsFile:
    def __init__(self, path, attrs, cells, model_label=""):
        self.path = path
        self.attrs = attrs
        self.cells = cells
        self.model_label = model_label   # "" for the whole file

    def by_model(self):
        """[(label, ResultsFile)]: one per model configuration in the file (the
        "model" column: the base model's config and, below it, the mark's), so
        cells of different models are never summarised together. A file of one
        model gives [("", self)]."""
        models = self.cells.ordered("model", [])
        if len(models) <= 1:
            return [("", self)]
        out = []
        for k, m in enumerate(models, 1):
            sel = self.cells.where(model=m)
            label = "model %d of %d: %s, configuration %s" % (
                k, len(models), ", ".join(sel.unique("benchmark")) or "?", m)
            out.append((label, ResultsFile(self.path, self.attrs, sel, label)))
        return out

    @property
    def name(self):
        return str(self.attrs.get("name") or os.path.splitext(os.path.basename(self.path))[0])

    @property
    def schemes(self):
        """The schemes, in display order."""
        v = self.attrs.get("vocab_schemes")
        return tuple(v.split(",")) if v else SCHEMES

    @property
    def attacks(self):
        """The attack kinds, in display order."""
        v = self.attrs.get("vocab_attacks")
        return tuple(v.split(",")) if v else ATTACKS

    @property
    def other_attacks(self):
        """Beyond the paper's three (prune, finetune, overwrite): one summary table."""
        return tuple(a for a in self.attacks if a not in ATTACKS[:3])

    @property
    def variants(self):
        """{attack: (variant, ...)}."""
        v = self.attrs.get("vocab_variants")
        if not v:
            return VARIANTS
        return {k: tuple(vs.split(",")) for k, vs in (e.split(":", 1) for e in v.split(";") if ":" in e)}

    @property
    def classes(self):
        return int(self.attrs.get("classes", DEFAULT_CLASSES))

    @property
    def wb_alpha(self):
        return float(self.attrs.get("wb_alpha", DEFAULT_WB_ALPHA))


def _latest(ids):
    """Indices of the last row of each id, in file order."""
    seen, keep = set(), []
    for i in range(len(ids) - 1, -1, -1):
        if ids[i] not in seen:
            seen.add(ids[i])
            keep.append(i)
    return np.array(keep[::-1], dtype=np.int64)


def _models(columns):
    """Per row, the configuration of the base model it belongs to: follow parent
    (and, for null rows, the key's embed cell) up to the train cell and take its
    config. Files before format 3 have no config: the benchmark stands in."""
    ids, parents, kinds = columns["id"], columns["parent"], columns["kind"]
    keys, conf = columns["key_id"], columns.get("config")
    if conf is None or not any(conf):
        return np.array(columns["benchmark"], dtype=str)
    at = {ids[i]: i for i in range(len(ids))}
    # rows written before the file was upgraded to format 3 have no config: a
    # benchmark whose train rows show exactly one config lends it to them
    null_models = {parents[i] for i in range(len(ids)) if kinds[i] == "null"}
    by_bench = {}
    for i in range(len(ids)):
        if kinds[i] == "train" and conf[i] and ids[i] not in null_models:
            by_bench.setdefault(columns["benchmark"][i], set()).add(conf[i])
    conf = [c or (next(iter(by_bench[b])) if len(by_bench.get(b, ())) == 1 else b)
            for c, b in zip(conf, columns["benchmark"])]

    def root(i):
        seen = 0
        if kinds[i] == "null" and keys[i] in at:
            i = at[keys[i]]
        while parents[i] and parents[i] in at and seen < 8:
            i, seen = at[parents[i]], seen + 1
        return conf[i]

    model = [root(i) for i in range(len(ids))]
    for i in range(len(ids)):  # a null model's train cell belongs to the owner's model it tests
        if kinds[i] == "null" and parents[i] in at:
            model[at[parents[i]]] = model[i]
    return np.array(model, dtype=str)


def _warn(path, what):
    print("warning: %s: %s" % (path, what), file=sys.stderr)


def _warn_exposed(path, holds_keys, store=None):
    """Key material readable or writable by group/others deserves a word: the
    results file, and (format 4) its blob store, which holds the key files."""
    mode = os.stat(path).st_mode
    if holds_keys and mode & 0o077:
        _warn(path, "holds secret key material but its mode is %03o (group or others may read or "
              "write it); chmod 600 it" % stat.S_IMODE(mode))
    if holds_keys and store and os.path.isdir(store):
        loose = [n for n in os.listdir(store) if os.stat(os.path.join(store, n)).st_mode & 0o077]
        if os.stat(store).st_mode & 0o077 or loose:
            _warn(store, "holds secret key material but it or %d of its files may be read or written by "
                  "group or others; chmod -R go= it" % len(loose))


def load(path):
    """Read a results file; raise ResultsFileError with a one-line reason."""
    if not os.path.exists(path):
        raise ResultsFileError("no such file")
    if os.path.isdir(path):
        raise ResultsFileError("is a directory")
    if not h5py.is_hdf5(path):
        raise ResultsFileError("not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
            magic = attrs.get("magic")
            if magic != MAGIC:
                raise ResultsFileError("not a deepsigns results file (magic attribute is %s)"
                                       % ("missing" if magic is None else repr(magic)))
            version = attrs.get("format_version")
            if version is not None and int(version) not in SUPPORTED_FORMATS:
                raise ResultsFileError("results format_version %s is not supported (only %s)"
                                       % (version, ", ".join(map(str, SUPPORTED_FORMATS))))
            if "cells" not in f or not isinstance(f["cells"], h5py.Dataset):
                raise ResultsFileError("no /cells table")
            table = f["cells"][()]
            holds_keys = "keys" in f and len(f["keys"]) > 0
            store = attrs.get("blob_store")
            if store is not None and ("/" in str(store) or str(store) in ("", ".", "..")):
                raise ResultsFileError("blob_store %r is not a plain name" % store)
            store = os.path.join(os.path.dirname(os.path.abspath(path)), store) if store else None
    except OSError as e:
        raise ResultsFileError("cannot read: %s" % e) from None
    names = table.dtype.names or ()
    missing = [n for n in REQUIRED_FIELDS if n not in names]
    if missing:
        raise ResultsFileError("/cells lacks the field(s) %s" % ", ".join(missing))
    table = table[_latest(table["id"])]
    _warn_exposed(path, holds_keys, store)
    for name, default in (("classes", DEFAULT_CLASSES), ("wb_alpha", DEFAULT_WB_ALPHA)):
        if name not in attrs:
            _warn(path, "no '%s' attribute (a file made before format 3): the analytic false-claim "
                  "rates assume %s" % (name, default))
    status = attrs.get("status")
    if status != "complete":
        _warn(path, "status is %s, not complete: the tables cover only the cells it holds"
              % ("missing" if status is None else repr(status)))
    columns = {}
    for n in names:
        col = table[n]
        if col.dtype.kind == "S":  # fixed-length: NUL- or space-padded ASCII
            col = np.array([b.decode("ascii", "replace").rstrip("\0 ") for b in col.tolist()],
                           dtype=str)
        elif n == "seed" and col.dtype.kind == "i":  # format 1: the uint64 seed's bits
            col = col.astype("<i8").view("<u8")
        columns[n] = np.asarray(col)
    for n in OPTIONAL_STRING_FIELDS:
        if n not in columns:
            columns[n] = np.array([""] * len(table), dtype=str)
    for n, default in OPTIONAL_NUMBER_FIELDS.items():
        if n not in columns:
            columns[n] = (np.array(columns["ber"], dtype=float) if default is None
                          else np.full(len(table), default))
    columns["model"] = _models(columns)
    rf = ResultsFile(path, attrs, Cells(columns))
    rf.cells = Cells(columns, None, [v for vs in rf.variants.values() for v in vs])
    return rf
