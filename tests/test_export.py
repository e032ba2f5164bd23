"""thesis_code.export: the decoder written into the HTML book and explorer.js's forward pass (in node),
both against PyTorch. The same explorer in a real browser: tests/test_browser.py."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from thesis_code import export


def _toy_vae():
    """A 2-D VAE whose decoder output varies strongly with z (random init, weights scaled up), so that
    the comparisons are not between near-constant images; nothing is trained."""
    from thesis_code.models.vae import VAE, VAEConfig
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, hidden=(64, 32)))
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(4.0)
    return model.eval()


def _toy_explorer(grid_n=6):
    model = _toy_vae()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, 28, 28, generator=g)
    y = torch.arange(40) % 10
    return model, export.live_explorer(model, x, y, grid_n=grid_n)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (apt-get install nodejs)")
def test_javascript_forward_pass_matches_pytorch(tmp_path):
    model, explorer = _toy_explorer()
    z = np.random.default_rng(0).normal(size=(7, 2)) * 2
    (tmp_path / "payload.json").write_text(json.dumps(explorer.payload))
    script = (f"const E = require({json.dumps(str(export.ASSETS / 'explorer.js'))});"
              f"const p = JSON.parse(require('fs').readFileSync({json.dumps(str(tmp_path / 'payload.json'))}));"
              "const d = new E.Decoder(p);"
              f"console.log(JSON.stringify({json.dumps(z.tolist())}.map(z => Array.from(d.forward(z)))));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    js = np.array(json.loads(out.stdout))
    torch_out = export.decode_mean(model, z)
    assert js.shape == torch_out.shape == (7, 784)
    assert np.abs(js - torch_out).max() < 1e-5
    assert torch_out.std() > 0.1   # the comparison is not between two constant images


def test_exported_weights_reproduce_the_model():
    model, explorer = _toy_explorer()
    z = torch.randn(9, 2)
    rebuilt = export.load_decoder(explorer.payload)(z).detach().numpy()
    assert np.array_equal(rebuilt, export.decode_mean(model, z))


def test_export_rejects_what_it_cannot_run():
    from thesis_code.models.vae import VAE, VAEConfig
    with pytest.raises(ValueError, match="2-D latent space"):
        export.live_explorer(VAE(VAEConfig(latent_dim=3)), torch.rand(4, 1, 28, 28), torch.arange(4))
    with pytest.raises(ValueError, match="MLP decoder"):
        export.decoder_payload(VAE(VAEConfig(latent_dim=2, arch="conv")))




def test_explorer_payload_describes_grid_and_digits():
    model, explorer = _toy_explorer(grid_n=5)
    p = explorer.payload
    from scipy.stats import norm
    assert np.allclose(p["grid"]["u"], norm.ppf(np.linspace(0.05, 0.95, 5)))   # latent.manifold_grid's codes
    assert [d["label"] for d in p["digits"]] == list(range(10))
    with torch.no_grad():
        mu, _ = model.encode(torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(1))[:10])
    assert np.allclose([d["z"] for d in p["digits"]], mu.numpy(), atol=1e-6)
    html = explorer.html()
    assert html.count(explorer.ident) >= 3 and "</script>" not in explorer.data_json()
    bundle = explorer._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}   # no image: the PDF keeps the static figures
