"""Interactive latent-space explorers (ipywidgets) that degrade to static figures.

Each explorer is a small object around an ipywidgets layout. Displayed in a live kernel (JupyterLab,
Notebook) it shows the sliders and redraws the decoded image as they move. Everywhere else (the HTML
book, the PDF) there is no kernel to run the callbacks, so its ``_repr_mimebundle_`` carries, next to the
widget view, a static figure of what the explorer shows across its sliders' range, as PNG, SVG and PDF.
The book's config tells myst-nb to prefer those images over the widget view (HTML) and to drop the view
(LaTeX); JupyterLab prefers the widget view.

The callbacks are plain methods (``update``, ``set_values``...) so that tests drive them without a browser.
Decoded images go to an ``ipywidgets.Image`` as PNG bytes.

    explorer = widgets.latent_explorer(model)            # one slider per latent dimension (up to 10)
    explorer                                              # last expression of a cell: displayed
"""
from __future__ import annotations

import base64
import io
from typing import Mapping, Sequence

import ipywidgets as W
import numpy as np
import torch

from .latent import _latent_dim, decode_images, encode_dataset, lerp, slerp
from .plots import figure_bytes, image_grid, tile

PIXELS_PER_CELL = 6  # upscale factor of the 28x28 decodes shown in the widget (nearest neighbour)


def png_bytes(image: np.ndarray, scale: int = PIXELS_PER_CELL) -> bytes:
    """A grey-scale image in [0, 1] (H, W) as PNG bytes, upscaled by ``scale`` (no smoothing)."""
    import matplotlib.image
    arr = np.clip(np.asarray(image, dtype=float), 0.0, 1.0)
    if scale > 1:
        arr = np.kron(arr, np.ones((scale, scale)))
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, arr, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return buf.getvalue()


def _new_figure(width: float, height: float):
    # A Figure not registered with pyplot: the inline backend does not show it by itself.
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


class StaticFallback:
    """Base class: ``self.widget`` is the live layout; subclasses draw ``static_figure()``."""

    widget: W.Widget
    name = "explorer"

    def static_figure(self):
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        fig = self.static_figure()
        bundle.update({
            "image/png": base64.b64encode(figure_bytes(fig, "png", dpi=100)).decode("ascii"),
            "image/svg+xml": figure_bytes(fig, "svg").decode("utf-8"),
            "application/pdf": base64.b64encode(figure_bytes(fig, "pdf")).decode("ascii"),
            "text/plain": f"<{type(self).__name__}: interactive in a live kernel; static figure elsewhere>",
        })
        if include is not None:
            bundle = {k: v for k, v in bundle.items() if k in include}
        if exclude is not None:
            bundle = {k: v for k, v in bundle.items() if k not in exclude}
        return bundle


# ----------------------------------------------------------------------------- latent explorer
class LatentExplorer(StaticFallback):
    """One slider per latent dimension; the decoded image follows the sliders."""

    def __init__(self, model, z0: torch.Tensor | None = None, max_dims: int = 10,
                 value_range: tuple[float, float] = (-3.0, 3.0), step: float = 0.1, static_steps: int = 7):
        self.model = model
        d = _latent_dim(model)
        self.z0 = torch.zeros(d) if z0 is None else torch.as_tensor(z0, dtype=torch.float32).reshape(-1).clone()
        if self.z0.numel() != d:
            raise ValueError(f"expected z0 of shape ({d},), got {tuple(torch.as_tensor(z0).shape)}")
        self.dims = list(range(min(d, max_dims)))   # beyond max_dims the coordinates stay at z0
        self.value_range, self.static_steps = value_range, static_steps
        lo, hi = value_range
        self.sliders = [W.FloatSlider(value=float(np.clip(float(self.z0[i]), lo, hi)), min=lo, max=hi, step=step,
                                      description=f"z{i + 1}", continuous_update=True,
                                      layout=W.Layout(width="320px"))
                        for i in self.dims]
        self.image = W.Image(format="png")
        for s in self.sliders:
            s.observe(lambda change: self.update(), names="value")
        self.widget = W.HBox([W.VBox(self.sliders), self.image])
        self.update()

    def current_z(self) -> torch.Tensor:
        z = self.z0.clone()
        for i, s in zip(self.dims, self.sliders):
            z[i] = s.value
        return z

    def decode_current(self) -> np.ndarray:
        return decode_images(self.model, self.current_z().unsqueeze(0).to(_device(self.model)))[0, 0].cpu().numpy()

    def update(self) -> None:
        """Redraw the decoded image of the sliders' code (the slider callback)."""
        self.image.value = png_bytes(self.decode_current())

    def set_values(self, values: Sequence[float]) -> None:
        """Move the sliders to ``values`` (one per shown dimension), as a user would."""
        for s, v in zip(self.sliders, values):
            s.value = float(v)

    def static_figure(self):
        """Traversals around the current code: one row per shown dimension, ``static_steps`` values."""
        values = np.linspace(*self.value_range, self.static_steps)
        z = self.current_z().to(_device(self.model))
        rows = []
        for i in self.dims:
            zs = z.unsqueeze(0).repeat(len(values), 1)
            zs[:, i] = torch.as_tensor(values, dtype=zs.dtype)
            rows.append(decode_images(self.model, zs).cpu())
        images = torch.cat(rows)
        fig = _new_figure(0.55 * len(values) + 0.6, 0.55 * len(self.dims) + 0.4)
        ax = fig.add_subplot()
        image_grid(images, nrow=len(values), ax=ax)
        ax.set_axis_on()
        for side in ax.spines.values():
            side.set_visible(False)
        cell = images.shape[-1] + 1
        ax.set_xticks([0.5 + cell * (j + 0.5) for j in range(len(values))], [f"{v:.1f}" for v in values])
        ax.set_yticks([0.5 + cell * (r + 0.5) for r in range(len(self.dims))],
                      [f"$z_{{{i + 1}}}$" for i in self.dims])
        ax.tick_params(length=0)
        ax.set_xlabel("value of the varied coordinate (others as set)")
        return fig


def latent_explorer(model, z0: torch.Tensor | None = None, **kw) -> LatentExplorer:
    """Sliders for (up to ``max_dims``) latent coordinates, starting at ``z0`` (default 0)."""
    return LatentExplorer(model, z0, **kw)


def _device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


# ----------------------------------------------------------------------------- interpolation explorer
class InterpolationExplorer(StaticFallback):
    """A slider t in [0, 1] moving between the codes of two images; shows x_a | decode(z(t)) | x_b."""

    def __init__(self, model, x_a: torch.Tensor, x_b: torch.Tensor, method: str = "lerp", step: float = 0.05,
                 static_steps: int = 9):
        if method not in ("lerp", "slerp"):
            raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
        self.model, self.method, self.static_steps = model, method, static_steps
        shape = tuple(getattr(model, "input_shape", (1, 28, 28)))
        self.x_a, self.x_b = x_a.reshape(shape).cpu(), x_b.reshape(shape).cpu()
        codes = encode_dataset(model, torch.stack([self.x_a, self.x_b]).to(_device(model))).mean
        self.z_a, self.z_b = codes[0].cpu(), codes[1].cpu()
        self.slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=step, description="t",
                                    continuous_update=True)
        self.image = W.Image(format="png")
        self.slider.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([self.slider, self.image])
        self.update()

    def code_at(self, t: float) -> torch.Tensor:
        """z(t) on the path from z_a (t = 0) to z_b (t = 1)."""
        if self.method == "lerp":
            return (1 - t) * self.z_a + t * self.z_b
        return _slerp_at(self.z_a, self.z_b, t)

    def decode_at(self, t: float) -> torch.Tensor:
        return decode_images(self.model, self.code_at(t).unsqueeze(0).to(_device(self.model)))[0].cpu()

    def current_images(self) -> torch.Tensor:
        return torch.stack([self.x_a, self.decode_at(self.slider.value), self.x_b])

    def update(self) -> None:
        self.image.value = png_bytes(tile(self.current_images(), nrow=3, pad=2))

    def set_t(self, t: float) -> None:
        self.slider.value = float(t)

    def static_figure(self):
        ts = np.linspace(0.0, 1.0, self.static_steps)
        z = (lerp if self.method == "lerp" else slerp)(self.z_a, self.z_b, self.static_steps)
        decoded = decode_images(self.model, z.to(_device(self.model))).cpu()
        images = torch.cat([self.x_a[None], decoded, self.x_b[None]])
        fig = _new_figure(0.6 * len(images) + 0.4, 1.2)
        ax = fig.add_subplot()
        image_grid(images, nrow=len(images), ax=ax)
        ax.set_title(f"{self.method} from image A (left) to image B (right), t = 0 ... 1 in {len(ts)} steps")
        return fig


def _slerp_at(z0: torch.Tensor, z1: torch.Tensor, t: float) -> torch.Tensor:
    omega = torch.acos(torch.clamp(torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-7), -1, 1))
    if torch.sin(omega).abs() < 1e-4:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolation_explorer(model, x_a: torch.Tensor, x_b: torch.Tensor, **kw) -> InterpolationExplorer:
    """A slider t in [0, 1] between two images' codes (lerp by default, or ``method="slerp"``)."""
    return InterpolationExplorer(model, x_a, x_b, **kw)


# ----------------------------------------------------------------------------- beta explorer
class BetaExplorer(StaticFallback):
    """A selection slider over trained models (e.g. one per beta of a beta-VAE); shows samples of the
    selected model (the same prior draws for every model) and, if ``x`` is given, its reconstructions."""

    def __init__(self, models_by_beta: Mapping[float, object], x: torch.Tensor | None = None, n: int = 8,
                 seed: int = 0, label: str = "β"):
        if not models_by_beta:
            raise ValueError("models_by_beta is empty")
        self.models = dict(sorted(models_by_beta.items()))
        self.x = None if x is None else x[:n].cpu()
        self.n, self.seed, self.label = n, seed, label
        keys = list(self.models)
        self.slider = W.SelectionSlider(options=[(f"{k:g}", k) for k in keys], value=keys[0],
                                        description=label, continuous_update=False)
        self.image = W.Image(format="png")
        self.slider.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([self.slider, self.image])
        self.update()

    def images_for(self, key) -> torch.Tensor:
        """Row 1: n samples; row 2 (if x was given): the reconstructions of x."""
        model = self.models[key]
        # The same prior draws for every model (dimensions may differ, so drawn per model from one seed).
        z = torch.randn(self.n, _latent_dim(model), generator=torch.Generator().manual_seed(self.seed))
        rows = [decode_images(model, z.to(_device(model))).cpu()]
        if self.x is not None:
            with torch.no_grad():
                model.eval()
                rows.append(model.reconstruct(self.x.to(_device(model))).cpu())
        return torch.cat(rows)

    def update(self) -> None:
        self.image.value = png_bytes(tile(self.images_for(self.slider.value), nrow=self.n, pad=2))

    def select(self, key) -> None:
        self.slider.value = key

    def static_figure(self):
        keys = list(self.models)
        rows_per = 1 if self.x is None else 2
        fig = _new_figure(0.5 * self.n + 1.0, 0.55 * rows_per * len(keys) + 0.3)
        axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
        for ax, key in zip(axes, keys):
            image_grid(self.images_for(key), nrow=self.n, ax=ax)
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            ax.set_ylabel(f"{self.label} = {key:g}", rotation=0, ha="right", va="center")
        what = "samples" + (" (top) and reconstructions (bottom)" if self.x is not None else "")
        axes[0].set_title(what)
        return fig


def beta_explorer(models_by_beta: Mapping[float, object], x: torch.Tensor | None = None, **kw) -> BetaExplorer:
    """Switch between cached models (one per beta) with a selection slider."""
    return BetaExplorer(models_by_beta, x, **kw)
