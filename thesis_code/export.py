"""Export a trained decoder to the HTML book: a live latent explorer that runs without a kernel.

In the static HTML book there is no Python kernel to run the ipywidgets callbacks of
:mod:`thesis_code.widgets`, so those explorers show pictures there. This module lets the page compute
the decoder itself: the weights of an MLP decoder are written, at build time, into the notebook's output
as base64 float32 arrays, and ``book/_static/explorer/explorer.js`` (served by the book, no CDN) runs the
forward pass z -> image in JavaScript as the reader moves the sliders.

Why weights and a hand-written forward pass rather than ONNX + onnxruntime-web: the decoder of the
2-D VAE of section 2.4 is three affine maps with ReLUs and a final sigmoid (about 0.5 M weights), which is
thirty lines of JavaScript; onnxruntime-web is megabytes of WebAssembly that browsers refuse to fetch
from ``file://`` pages, and exporting ONNX needs the ``onnx`` package, which the project does not install.
The JavaScript is checked against PyTorch by ``tests/test_browser.py`` (in node and in Chromium).

    explorer = export.live_explorer(model2, x_test, y_test)   # a VAE with latent_dim=2 and an MLP decoder
    glue("ch2_live_explorer", explorer, display=False)       # shown by {glue} inside {only} html

The returned object renders as ``text/html`` (the explorer, with its data inline, so it works from
``file://``) and ``text/plain``; it carries no image, so the PDF keeps the static figures.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

# Activations the JavaScript forward pass implements (explorer.js, ACTIVATIONS).
_ACTIVATIONS: dict[type[nn.Module], str] = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
                                            nn.Identity: "identity"}
FORMAT_VERSION = 1
ASSETS = Path(__file__).resolve().parents[1] / "book" / "_static" / "explorer"


def _b64(array: np.ndarray, dtype: str) -> str:
    # little-endian, C order: what JavaScript's Float32Array / Uint8Array read on every current platform
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
                            ).decode("ascii")


def _from_b64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def _output_activation(model) -> str:
    """The map from the decoder's last layer to the image E[x|z] (decode_mean)."""
    config = getattr(model, "config", None)
    likelihood = getattr(config, "likelihood", None)
    if likelihood == "bernoulli":
        return "sigmoid"                       # pixel probabilities = sigmoid(logits)
    if likelihood == "gaussian":
        lik = getattr(model, "likelihood", None)
        mean_act = getattr(lik, "mean_activation", None) or getattr(config, "gaussian_mean", None)
        return "sigmoid" if mean_act == "sigmoid" else "identity"
    raise ValueError(f"cannot export a decoder with likelihood {likelihood!r}: "
                     "only 'bernoulli' and 'gaussian' (fixed variance) decoders are supported")


def decoder_layers(model) -> list[dict[str, Any]]:
    """The MLP decoder as a list of ``{"in", "out", "activation", "weight", "bias"}`` (numpy arrays).

    ``activation`` is what follows the affine map ("identity" for the last one). Raises ``ValueError``
    for anything that is not a plain ``nn.Sequential`` of ``nn.Linear`` and supported activations
    (a convolutional or conditional decoder), naming what it found.
    """
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, nn.Sequential):
        raise ValueError(f"expected an MLP decoder (nn.Sequential of Linear layers), got {type(decoder).__name__}; "
                         "build the model with VAEConfig(arch='mlp')")
    layers: list[dict[str, Any]] = []
    for module in decoder:
        if isinstance(module, nn.Linear):
            w = module.weight.detach().cpu().float().numpy()
            b = (module.bias.detach().cpu().float().numpy() if module.bias is not None
                 else np.zeros(w.shape[0], np.float32))
            layers.append({"in": w.shape[1], "out": w.shape[0], "activation": "identity", "weight": w, "bias": b})
        elif type(module) in _ACTIVATIONS and layers and layers[-1]["activation"] == "identity":
            layers[-1]["activation"] = _ACTIVATIONS[type(module)]
        else:
            raise ValueError(f"cannot export decoder layer {module!r}: supported are nn.Linear followed by "
                             f"one of {sorted(_ACTIVATIONS.values())}")
    if not layers:
        raise ValueError("the decoder has no Linear layer")
    return layers


def decoder_payload(model, check: bool = True) -> dict[str, Any]:
    """The JSON-serializable description of the decoder that explorer.js loads.

    With ``check`` the payload's forward pass (:func:`forward`, the same arithmetic as explorer.js) is
    compared with ``model.decode_mean`` on random codes, so an architecture this exporter misreads fails
    here, at build time, and not silently in the reader's browser.
    """
    latent_dim = int(getattr(model, "latent_dim"))
    shape = tuple(int(s) for s in getattr(model, "input_shape"))
    if len(shape) != 3 or shape[0] != 1:
        raise ValueError(f"expected a model of grey-scale images (1, H, W), got input_shape {shape}")
    layers = decoder_layers(model)
    if layers[0]["in"] != latent_dim:
        raise ValueError(f"the decoder takes {layers[0]['in']} inputs but the latent space has {latent_dim} "
                         "dimensions (a conditional decoder?): only unconditional decoders are exported")
    if layers[-1]["out"] != shape[1] * shape[2]:
        raise ValueError(f"the decoder outputs {layers[-1]['out']} numbers, expected one per pixel "
                         f"({shape[1] * shape[2]}); a learned variance is not supported")
    payload = {
        "version": FORMAT_VERSION, "latent_dim": latent_dim, "height": shape[1], "width": shape[2],
        "output": _output_activation(model),
        "layers": [{"in": l["in"], "out": l["out"], "activation": l["activation"],
                    "weight": _b64(l["weight"], "float32"), "bias": _b64(l["bias"], "float32")} for l in layers],
    }
    if check:
        z = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(0)) * 2
        ours = forward(payload, z.numpy())
        theirs = decode_mean(model, z)
        err = float(np.abs(ours - theirs).max())
        if err > 1e-4:
            raise ValueError(f"the exported decoder differs from model.decode_mean by {err:.3g}: "
                             "this architecture is not supported by the exporter")
    return payload


@torch.no_grad()
def decode_mean(model, z) -> np.ndarray:
    """PyTorch's E[x|z] for codes ``z`` (B, latent_dim), flattened to (B, H*W), in eval mode."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        out = model.decode_mean(torch.as_tensor(np.asarray(z), dtype=torch.float32, device=device))
    finally:
        model.train(was_training)
    return out.reshape(out.shape[0], -1).cpu().numpy()


def forward(payload: dict[str, Any], z: np.ndarray) -> np.ndarray:
    """The payload's forward pass in numpy, with explorer.js's arithmetic: (B, latent_dim) -> (B, H*W)."""
    h = np.asarray(z, dtype=np.float64)
    acts = {"relu": lambda a: np.maximum(a, 0.0), "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
            "tanh": np.tanh, "identity": lambda a: a}
    for layer in payload["layers"]:
        w = _from_b64(layer["weight"], "float32").reshape(layer["out"], layer["in"]).astype(np.float64)
        b = _from_b64(layer["bias"], "float32").astype(np.float64)
        h = acts[layer["activation"]](h @ w.T + b)
    return acts[payload["output"]](h)


def load_decoder(payload: dict[str, Any]) -> nn.Sequential:
    """A PyTorch ``nn.Sequential`` holding the payload's weights (float32), ending in its output map.

    Used by the tests to compute, in PyTorch, what the page's decoder must show for a given z.
    """
    modules: list[nn.Module] = []
    inverse = {v: k for k, v in _ACTIVATIONS.items()}
    for layer in payload["layers"]:
        lin = nn.Linear(layer["in"], layer["out"])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(_from_b64(layer["weight"], "float32").reshape(layer["out"], layer["in"]).copy()))
            lin.bias.copy_(torch.from_numpy(_from_b64(layer["bias"], "float32").copy()))
        modules += [lin, inverse[layer["activation"]]()]
    modules.append(inverse[payload["output"]]())
    return nn.Sequential(*modules).eval()


def _grey_uint8(image: torch.Tensor) -> np.ndarray:
    return np.round(np.clip(image.detach().cpu().float().numpy().reshape(-1), 0.0, 1.0) * 255).astype(np.uint8)


@dataclass
class LiveExplorer:
    """The in-page explorer of a 2-D latent space: its ``text/html`` carries the data and mounts explorer.js."""

    payload: dict[str, Any]
    title: str = "Latent space of the 2-D VAE"
    ident: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(json.dumps(self.payload, sort_keys=True).encode()).hexdigest()[:12]
        self.ident = f"vae-explorer-{digest}"

    def data_json(self) -> str:
        # "</" would end the <script> element early; JSON allows the escaped form
        return json.dumps(self.payload, separators=(",", ":")).replace("</", "<\\/")

    def html(self) -> str:
        """The explorer's HTML: a container, its data (JSON) and a script that mounts it once the page is read."""
        i = self.ident
        return (
            f'<div class="vae-explorer" id="{i}" data-title="{html.escape(self.title)}">'
            '<p class="vae-explorer-fallback">This explorer runs in the HTML book (it needs explorer.js from the '
            "book's _static folder and JavaScript). In a running notebook use the slider explorer above.</p></div>\n"
            f'<script type="application/json" id="{i}-data">{self.data_json()}</script>\n'
            "<script>(function () {\n"
            f'  var id = "{i}";\n'
            "  function go() {\n"
            "    var el = document.getElementById(id);\n"
            "    if (!el || !window.VAEExplorer) return;\n"
            '    window.VAEExplorer.mount(el, JSON.parse(document.getElementById(id + "-data").textContent));\n'
            "  }\n"
            '  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go); else go();\n'
            "})();</script>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        return {"text/html": self.html(),
                "text/plain": f"<LiveExplorer {self.ident}: runs in the HTML book ({self.payload['grid']['n']}x"
                              f"{self.payload['grid']['n']} grid, {len(self.payload['digits'])} test digits)>"}

    def standalone_page(self, path: str | Path, assets: str | Path = ASSETS) -> Path:
        """Write an HTML page with explorer.js/.css inlined (for the tests and for a quick look)."""
        assets = Path(assets)
        js, css = assets / "explorer.js", assets / "explorer.css"
        if not js.is_file() or not css.is_file():
            raise FileNotFoundError(f"explorer.js / explorer.css not found in {assets} (they ship in the repository "
                                    "under book/_static/explorer)")
        page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>VAE explorer</title>"
                f"<style>{css.read_text()}</style><script>{js.read_text()}</script></head>"
                f"<body>{self.html()}</body></html>")
        path = Path(path)
        path.write_text(page, encoding="utf-8")
        return path


def live_explorer(model, x: torch.Tensor, y: torch.Tensor, grid_n: int = 15,
                  bounds: tuple[float, float] = (0.05, 0.95), value_range: tuple[float, float] = (-3.0, 3.0),
                  classes: Sequence[int] | None = None, title: str = "Latent space of the 2-D VAE") -> LiveExplorer:
    """The in-page explorer of ``model`` (2-D latent space, MLP decoder).

    Three views share the decoder: two sliders for z = (z1, z2) with the decoded image; the manifold grid
    (``grid_n`` x ``grid_n`` codes at the prior quantiles ``bounds``, as :func:`thesis_code.latent.manifold_grid`)
    with the current z marked (a click on it moves the sliders); and the straight-line interpolation
    z = (1 - t) mu(x_a) + t mu(x_b) between the posterior means of two test digits, one per class in
    ``classes`` (default: every label present in ``y``), chosen from ``x`` in order of appearance.
    """
    if int(getattr(model, "latent_dim", 0)) != 2:
        raise ValueError(f"the live explorer needs a 2-D latent space, the model has "
                         f"{getattr(model, 'latent_dim', None)} dimensions")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"expected as many labels as images, got {y.shape[0]} labels for {x.shape[0]} images")
    payload = decoder_payload(model)
    lo, hi = bounds
    if not 0 < lo < hi < 1:
        raise ValueError(f"bounds must satisfy 0 < lo < hi < 1, got {bounds}")
    p = torch.linspace(lo, hi, grid_n, dtype=torch.float64)
    u = torch.distributions.Normal(0.0, 1.0).icdf(p)   # same spacing as latent.manifold_grid
    payload["grid"] = {"n": int(grid_n), "u": [float(v) for v in u]}
    payload["range"] = [float(value_range[0]), float(value_range[1])]
    labels = y.detach().cpu().long()
    wanted = sorted(set(labels.tolist())) if classes is None else list(classes)
    picks = []
    for c in wanted:
        hits = (labels == c).nonzero().flatten()
        if len(hits) == 0:
            raise ValueError(f"no image of class {c} in the given test set")
        picks.append(int(hits[0]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(x[picks].to(device))
    model.train(was_training)
    payload["digits"] = [{"label": int(labels[i]), "index": i, "z": [float(v) for v in mu[k].cpu()],
                          "image": _b64(_grey_uint8(x[i]), "uint8")} for k, i in enumerate(picks)]
    return LiveExplorer(payload, title=title)
