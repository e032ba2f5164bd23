"""An explorer of the homotopy between two sentences, live in a kernel, a static table elsewhere.

    explorer = sentence_interpolation_explorer(vae, vocab, test_sentences)
    explorer                                    # choose or type two sentences, slide t from 0 to 1

In JupyterLab: two combo boxes (pick a test sentence or type any sentence; words outside the vocabulary
become ``<unk>``), a lerp/slerp toggle and a slider t in [0, 1]; the label shows the greedy decoding of
z(t). In the HTML and PDF (no kernel) the explorer is the static figure of :class:`StaticFallback`
(thesis_code/widgets.py): a table of the decoded sentences at ``static_steps`` equally spaced t.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as W
import numpy as np
import torch

from .evaluate.text import encode_sentences, homotopy
from .widgets import StaticFallback, _new_figure, _slerp_at


def _wrap(text: str, width: int = 90) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width)) or "(empty)"


class SentenceInterpolationExplorer(StaticFallback):
    name = "sentence interpolation"

    def __init__(self, model, vocab, sentences: Sequence[str], a: str | None = None, b: str | None = None,
                 method: str = "lerp", static_steps: int = 7, max_len: int = 30):
        if not sentences:
            raise ValueError("give at least one sentence to choose from")
        if method not in ("lerp", "slerp"):
            raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
        self.model, self.vocab, self.max_len, self.static_steps = model, vocab, max_len, static_steps
        options = list(sentences)
        self.box_a = W.Combobox(value=a or options[0], options=options, description="start",
                                ensure_option=False, layout=W.Layout(width="95%"))
        self.box_b = W.Combobox(value=b or options[min(1, len(options) - 1)], options=options,
                                description="end", ensure_option=False, layout=W.Layout(width="95%"))
        self.path = W.ToggleButtons(options=["lerp", "slerp"], value=method, description="path")
        self.slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
        self.label = W.HTML()
        for w in (self.box_a, self.box_b, self.path, self.slider):
            w.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([self.box_a, self.box_b, self.path, self.slider, self.label])
        self.update()

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        z = encode_sentences(self.model, self.vocab, [self.box_a.value, self.box_b.value])
        return z[0], z[1]

    def code_at(self, t: float) -> torch.Tensor:
        """z(t) on the chosen path from the start sentence's code (t = 0) to the end's (t = 1)."""
        z_a, z_b = self.codes()
        return (1 - t) * z_a + t * z_b if self.path.value == "lerp" else _slerp_at(z_a, z_b, t)

    def decode_at(self, t: float) -> str:
        ids = self.model.decode_greedy(self.code_at(float(t))[None], self.max_len)
        return self.vocab.decode(ids[0].tolist())

    def update(self) -> None:
        self.label.value = f"<b>t = {self.slider.value:.2f}</b>: {self.decode_at(self.slider.value)}"

    def table(self) -> list[tuple[float, str]]:
        z_a, z_b = self.codes()
        sentences = homotopy(self.model, self.vocab, z_a, z_b, self.static_steps, self.path.value, self.max_len)
        return list(zip(np.linspace(0.0, 1.0, self.static_steps).tolist(), sentences))

    def static_figure(self):
        rows = self.table()
        lines = [f"start: {self.box_a.value}", f"end:   {self.box_b.value}", ""]
        lines += [f"t = {t:.2f}   {s}" for t, s in rows]
        fig = _new_figure(9.0, 0.32 * len(lines) + 0.4)
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=8,
                transform=ax.transAxes)
        ax.set_title(f"{self.path.value}: greedy decodings along the path between the two sentences' codes",
                     fontsize=9, loc="left")
        return fig


def sentence_interpolation_explorer(model, vocab, sentences: Sequence[str], **kw) -> SentenceInterpolationExplorer:
    """Choose (or type) two sentences and slide along the latent path between them."""
    return SentenceInterpolationExplorer(model, vocab, sentences, **kw)
