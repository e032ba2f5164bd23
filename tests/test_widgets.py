"""Tests of thesis_code.widgets: callbacks update the image, the mime bundle carries the widget view and
static images, and plots.setup_notebook / save_figure produce the vector forms the book needs."""
import base64

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from thesis_code import plots, widgets  # noqa: E402
from thesis_code.models import VAE, VAEConfig  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def small_vae(latent_dim=2, seed=0, beta=1.0):
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=latent_dim, hidden=(16,), beta=beta)).eval()


def check_bundle(explorer):
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"] == explorer.widget.model_id
    png = base64.b64decode(bundle["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))
    assert base64.b64decode(bundle["application/pdf"])[:5] == b"%PDF-"
    assert "text/plain" in bundle
    only = explorer._repr_mimebundle_(include={"image/png"})
    assert set(only) == {"image/png"}


def test_latent_explorer_callback_redraws_and_bundle():
    model = small_vae(latent_dim=12)
    explorer = widgets.latent_explorer(model)
    assert len(explorer.sliders) == 10               # capped
    before = explorer.image.value
    explorer.set_values([2.5, -2.5, 1.0])            # what a user moving three sliders does
    assert explorer.image.value != before
    z = explorer.current_z()
    assert z[:3].tolist() == pytest.approx([2.5, -2.5, 1.0]) and z[10:].tolist() == [0.0, 0.0]
    # the shown image is the decode of the sliders' code
    expected = widgets.png_bytes(model.decode_mean(z[None])[0, 0].detach().numpy())
    assert explorer.image.value == expected
    check_bundle(explorer)
    with pytest.raises(ValueError, match=r"\(12,\)"):
        widgets.latent_explorer(model, z0=torch.zeros(3))


def test_interpolation_explorer_moves_between_the_two_codes():
    model = small_vae(latent_dim=3)
    g = torch.Generator().manual_seed(0)
    x_a, x_b = torch.rand(1, 28, 28, generator=g), torch.rand(1, 28, 28, generator=g)
    explorer = widgets.interpolation_explorer(model, x_a, x_b)
    mu, _ = model.encode(torch.stack([x_a, x_b]))
    explorer.set_t(0.0)
    torch.testing.assert_close(explorer.current_images()[1], model.decode_mean(mu[:1])[0])
    at_zero = explorer.image.value
    explorer.set_t(1.0)
    torch.testing.assert_close(explorer.current_images()[1], model.decode_mean(mu[1:])[0])
    assert explorer.image.value != at_zero
    slerp = widgets.interpolation_explorer(model, x_a, x_b, method="slerp")
    slerp.set_t(0.3)
    from thesis_code.latent import slerp as slerp_path
    torch.testing.assert_close(slerp.code_at(0.3), slerp_path(mu[0], mu[1], 11)[3], atol=1e-5, rtol=1e-5)
    check_bundle(explorer)


def test_beta_explorer_switches_models():
    models = {4.0: small_vae(seed=2, beta=4.0), 1.0: small_vae(seed=1)}
    x = torch.rand(5, 1, 28, 28)
    explorer = widgets.beta_explorer(models, x, n=4)
    assert explorer.slider.value == 1.0            # sorted: smallest beta first
    first = explorer.image.value
    assert explorer.images_for(1.0).shape == (8, 1, 28, 28)
    explorer.select(4.0)
    assert explorer.image.value != first
    torch.testing.assert_close(explorer.images_for(4.0)[4:], models[4.0].reconstruct(x[:4]))
    check_bundle(explorer)
    with pytest.raises(ValueError, match="empty"):
        widgets.beta_explorer({})


def test_image_grid_and_history_plot():
    import matplotlib.pyplot as plt
    canvas = plots.tile(torch.rand(10, 1, 28, 28), nrow=4, pad=1)
    assert canvas.shape == (3 * 29 + 1, 4 * 29 + 1)
    ax = plots.image_grid(torch.zeros(3, 1, 28, 28), nrow=3, title="t")
    assert ax.get_title() == "t"
    ax = plots.plot_history({"epoch": [1, 2, 3], "loss": [3, 2, 1], "kl": [1, 1, 1]})
    assert len(ax.lines) == 2
    with pytest.raises(KeyError, match="rec"):
        plots.plot_history({"loss": [1]}, keys=["rec"])
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        plots.tile(torch.rand(2, 3, 5, 5), nrow=2)
    plt.close("all")


def test_save_figure_writes_vector_files(tmp_path):
    import matplotlib.pyplot as plt
    plots.use_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = plots.save_figure(fig, "line", folder=tmp_path)
    assert [p.suffix for p in paths] == [".pdf", ".svg"]
    assert paths[0].read_bytes()[:5] == b"%PDF-" and b"<svg" in paths[1].read_bytes()
    plt.close(fig)


def test_setup_notebook_emits_png_svg_and_pdf():
    """What a notebook cell's figure carries after setup_notebook: the PDF for LaTeX, SVG for HTML."""
    from IPython.core.interactiveshell import InteractiveShell
    import matplotlib.pyplot as plt
    shell = InteractiveShell.instance()
    try:
        plots.setup_notebook()
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        data, _ = shell.display_formatter.format(fig)
        assert {"image/png", "image/svg+xml", "application/pdf"} <= set(data)
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
