"""The figure style of the thesis and the few plotting helpers every chapter shares.

One style for every figure (:func:`use_style`), one way to show a batch of images (:func:`image_grid`),
training curves (:func:`plot_history`) and vector output for the book (:func:`save_figure`). In a notebook
call :func:`setup_notebook` once: it applies the style and makes the inline backend emit SVG and PDF
besides PNG, so the HTML book shows crisp SVG and the LaTeX build embeds the PDF (myst-nb prefers
``application/pdf`` for LaTeX and ``image/svg+xml`` for HTML when they are present).
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
# Colour-blind-safe cycle (Okabe & Ito 2008), the same in every chapter.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "figure.figsize": (6.0, 3.6),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "lines.linewidth": 1.5,
    "image.cmap": "gray",
    "svg.fonttype": "none",  # text stays text in SVG: searchable and scaled with the page
    "pdf.fonttype": 42,      # TrueType in PDF: what thesis submission systems accept
}


def use_style() -> None:
    """Apply the thesis style to every later matplotlib figure."""
    from cycler import cycler
    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(COLOURS))


def setup_notebook(formats: Sequence[str] = ("png", "svg", "pdf")) -> None:
    """Style plus inline figures in raster and vector form (call once at the top of a notebook).

    Every figure is stored in the notebook as PNG, SVG and PDF; each output format of the book then picks
    the one it renders best. Outside IPython this only applies the style.
    """
    use_style()
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python: nothing to configure
        return
    set_matplotlib_formats(*formats)


def _to_numpy_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(B, 1, H, W) or (B, H, W) or (B, H*W) with H = W -> float array (B, H, W)."""
    arr = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images,
                                                                                                   float)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(f"expected images of shape (B, 1, H, W), got {arr.shape}")
        arr = arr.reshape(-1, side, side)
    if arr.ndim != 3:
        raise ValueError(f"expected images of shape (B, 1, H, W), got {arr.shape}")
    return arr


def tile(images: torch.Tensor | np.ndarray, nrow: int, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Arrange B images in rows of ``nrow`` (last row padded) as one 2-D array with ``pad`` pixel gaps."""
    arr = _to_numpy_images(images)
    b, h, w = arr.shape
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    ncol = nrow
    nrows = max(1, math.ceil(b / ncol))
    canvas = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=float)
    for i in range(b):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top:top + h, left:left + w] = arr[i]
    return canvas


def image_grid(images: torch.Tensor | np.ndarray, nrow: int = 8, ax=None, title: str | None = None,
               vmin: float = 0.0, vmax: float = 1.0):
    """Show a batch of (B, 1, 28, 28) images as a grid with ``nrow`` images per row; returns the axes."""
    import matplotlib.pyplot as plt
    canvas = tile(images, nrow)
    if ax is None:
        rows, cols = canvas.shape
        _, ax = plt.subplots(figsize=(min(8.0, 0.5 + cols / 40), min(8.0, 0.5 + rows / 40)))
    ax.imshow(canvas, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_images(images, nrow: int = 8, ax=None, title: str | None = None):
    """Alias of :func:`image_grid` (the name ARCHITECTURE.md uses)."""
    return image_grid(images, nrow=nrow, ax=ax, title=title)


def plot_history(history: Mapping[str, Sequence[float]], keys: Iterable[str] | None = None, ax=None,
                 xlabel: str = "epoch", ylabel: str | None = None, title: str | None = None, logy=False):
    """Training curves: one line per key of a ``train.History`` (a dict of per-epoch lists)."""
    import matplotlib.pyplot as plt
    keys = [k for k in history if k != "epoch"] if keys is None else list(keys)
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}")
    if ax is None:
        _, ax = plt.subplots()
    for key in keys:
        values = list(history[key])
        x = list(history["epoch"]) if "epoch" in history and len(history["epoch"]) == len(values) \
            else list(range(1, len(values) + 1))
        ax.plot(x, values, label=key, marker="o" if len(values) < 15 else None, markersize=3)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend(frameon=False)
    return ax


def line_plot(x, ys: Mapping[str, Sequence[float]], ax=None, xlabel: str = "", ylabel: str = "",
              title: str | None = None, logx=False, logy=False):
    """Several named curves over a shared x axis (e.g. a metric against beta or K)."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots()
    for label, y in ys.items():
        ax.plot(x, y, label=label, marker="o", markersize=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if len(ys) > 1:
        ax.legend(frameon=False)
    return ax


def figures_dir() -> Path:
    return Path(os.environ.get("THESIS_FIGURES_DIR", REPO_ROOT / "_build" / "figures"))


def save_figure(fig, name: str, formats: Sequence[str] = ("pdf", "svg"), folder=None) -> list[Path]:
    """Write ``fig`` as vector graphics ``<folder>/<name>.<fmt>`` (atomically) and return the paths.

    The default folder is ``$THESIS_FIGURES_DIR`` or ``_build/figures`` in the repository.
    """
    from .storage import atomic_write
    folder = Path(folder) if folder is not None else figures_dir()
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        atomic_write(path, lambda f, fmt=fmt: fig.savefig(f, format=fmt))
        paths.append(path)
    return paths


def figure_bytes(fig, fmt: str = "png", dpi: int | None = None) -> bytes:
    """The figure rendered to bytes in ``fmt`` (png, svg, pdf): what widgets and mime bundles carry."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()
