"""Free bits (Kingma et al. 2016) in the sentence VAE's training objective, and the padding-skipping
scorer that all sentence models use, each checked against an independent computation."""
from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical as TorchCategorical
from torch.distributions import Normal, kl_divergence

from thesis_code.data import text as T
from thesis_code.models.sentence import (RNNLanguageModel, SentenceVAE, SentenceVAEConfig, SequenceAutoencoder,
                                         free_bits_kl)
from thesis_code.schedules import Schedule

VOCAB = T.Vocab.fit(["a b c d e f", "b c a", "f e d"])
SENTS = ["a b c", "d e f a", "b", "c c d e f", "f", "a a b b c"]


def batch(sentences=SENTS):
    return T.pad_batch([VOCAB.encode(s) for s in sentences])


def config(**kw):
    kw.setdefault("kl_weight", 1.0)
    return SentenceVAEConfig(vocab_size=len(VOCAB), embed_dim=8, hidden_dim=12, latent_dim=3, **kw)


def torch_kl(mu, logvar):
    """KL(q(z | s) || N(0, I)) per sentence by torch.distributions (independent of objectives.kl_normal)."""
    return kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)


def torch_rec(vae, x, z, inputs=None):
    """-log p(s | z) per sentence from the full logits and torch.distributions, padding masked by hand
    (``inputs``: the decoder's inputs, e.g. after word dropout; default the teacher-forced sentence)."""
    targets = x.tokens[:, 1:]
    inputs = x.tokens[:, :-1] if inputs is None else inputs
    logits = vae.decoder(inputs, z)[0]
    lp = TorchCategorical(logits=logits).log_prob(targets) * (targets != VOCAB.pad_id)
    return -lp.sum(-1)


def encoder_params(vae):
    return [p for n, p in vae.named_parameters() if n.startswith(("encoder.", "to_posterior."))]


def decoder_params(vae):
    return [p for n, p in vae.named_parameters() if n.startswith("decoder.")]


def grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=True)


def reference_loss(vae, x, seed, kl_in_objective: bool):
    """The same mini-batch objective written out independently: the same random draws (the same seed, in
    the model's order: the posterior noise, then the word-dropout mask), the reconstruction from full
    logits, and the KL term either the plain mean KL or absent (a constant)."""
    torch.manual_seed(seed)
    mu, logvar = vae.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    inputs = x.tokens[:, :-1]
    rate = vae.word_dropout_rate()
    if rate > 0:
        drop = (torch.rand(inputs.shape) < rate) & (inputs != VOCAB.pad_id) & (inputs != VOCAB.bos_id)
        inputs = inputs.masked_fill(drop, VOCAB.unk_id)
    rec = torch_rec(vae, x, z, inputs).mean()
    return rec + vae.kl_weight() * torch_kl(mu, logvar).mean() if kl_in_objective else rec


def test_kl_per_dimension_matches_torch_distributions():
    torch.manual_seed(0)
    vae = SentenceVAE(config()).eval()
    x = batch()
    mu, logvar = vae.encode(x)
    by_hand = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar)                   # Kingma & Welling, appendix B
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(by_hand, want)
    _, metrics = vae.loss(x)
    assert metrics["kl"] == pytest.approx(want.sum(-1).mean().item(), rel=1e-5)


def test_free_bits_term_is_the_floored_batch_mean():
    kl = torch.tensor([0.5, 1.0, 4.5])                                         # mean 2
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(2.0)
    assert free_bits_kl(kl, 3.0).item() == pytest.approx(3.0)                  # below the floor: lambda
    assert free_bits_kl(kl, 1.5).item() == pytest.approx(2.0)                  # above it: the mean
    with pytest.raises(ValueError, match="free_bits"):
        config(free_bits=-1.0)


@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_encoder_gradient_is_zero_below_the_floor_and_plain_above_it(dropout):
    """Below the floor the KL term contributes nothing to any gradient: the gradient of the loss is that of
    the reconstruction alone. Above it, the gradient is that of the plain objective rec + w KL. Both are
    compared with the objective computed independently (full logits, torch.distributions KL, the same
    posterior noise and word-dropout mask)."""
    torch.manual_seed(0)
    x = batch()
    base = SentenceVAE(config(word_dropout=dropout))
    kl_now = torch_kl(*base.encode(x)).mean().item()
    below = SentenceVAE(config(word_dropout=dropout, free_bits=kl_now + 5.0))   # floor above the KL
    above = SentenceVAE(config(word_dropout=dropout, free_bits=kl_now / 2))     # floor below the KL
    plain = SentenceVAE(config(word_dropout=dropout))
    for m in (below, above, plain):
        m.load_state_dict(base.state_dict())
        m.train()
    params = lambda m: encoder_params(m) + decoder_params(m)

    torch.manual_seed(7)
    g_below = grads(below.loss(x)[0], params(below))
    torch.manual_seed(7)
    g_above = grads(above.loss(x)[0], params(above))
    torch.manual_seed(7)
    g_plain = grads(plain.loss(x)[0], params(plain))
    for a, b in zip(g_above, g_plain):                                        # above the floor: plain KL
        torch.testing.assert_close(a, b)
    g_ref_rec = grads(reference_loss(below, x, 7, kl_in_objective=False), params(below))
    g_ref_elbo = grads(reference_loss(plain, x, 7, kl_in_objective=True), params(plain))
    for a, b in zip(g_below, g_ref_rec):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(g_plain, g_ref_elbo):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # the encoder's gradient differs between the two regimes (the KL term acts only above the floor),
    # the decoder's does not (the KL term does not depend on the decoder)
    n_enc = len(encoder_params(base))
    assert any(not torch.allclose(a, b) for a, b in zip(g_below[:n_enc], g_plain[:n_enc]))
    for a, b in zip(g_below[n_enc:], g_plain[n_enc:]):
        torch.testing.assert_close(a, b)


def test_reported_metrics_do_not_depend_on_the_floor():
    """The loss metrics (true KL, reconstruction, negative ELBO), the ELBO and the importance weights are
    those of the plain model whatever lambda is; only the optimized ``loss`` changes."""
    torch.manual_seed(0)
    x = batch()
    anneal = Schedule("linear", 0.2, 1.0, steps=10)
    models = [SentenceVAE(config(free_bits=fb, kl_weight=anneal)) for fb in (0.0, 2.0, 50.0)]
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict())
    out = []
    for m in models:
        m.train()
        m.set_step(3)
        torch.manual_seed(1)
        loss, metrics = m.loss(x)
        m.eval()
        torch.manual_seed(2)
        elbo = m.elbo(x)
        out.append((loss.item(), metrics, elbo, m.log_weights(x, 4, generator=torch.Generator().manual_seed(3))))
    (l0, m0, e0, w0), (_, m1, e1, w1), (l2, m2, e2, w2) = out
    for m in (m1, m2):
        for key in ("kl", "rec", "nelbo", "kl_weight"):
            assert m[key] == pytest.approx(m0[key], rel=1e-6), key
    for e, w in ((e1, w1), (e2, w2)):
        torch.testing.assert_close(e, e0)
        torch.testing.assert_close(w, w0)
    w = anneal(3)
    assert l0 == pytest.approx(m0["rec"] + w * m0["kl"], rel=1e-5)
    assert l2 == pytest.approx(m0["rec"] + w * 50.0, rel=1e-5)                 # the floor, not the KL


def test_scoring_without_padding_matches_full_logits():
    """``score`` applies the output layer to the real targets only; the per-sentence log-likelihoods equal
    torch.distributions' on the full logits with the padding masked, for all three models."""
    torch.manual_seed(0)
    x = batch()
    inputs, targets = x.tokens[:, :-1], x.tokens[:, 1:]
    mask = targets != VOCAB.pad_id
    assert not mask.all()                                                      # the batch has padding
    z = torch.randn(len(SENTS), 3)
    for model, c in ((SentenceVAE(config()), z), (SequenceAutoencoder(config()), z),
                     (RNNLanguageModel(config()), None)):
        model.eval()
        with torch.no_grad():
            want = (TorchCategorical(logits=model.decoder(inputs, c)[0]).log_prob(targets) * mask).sum(-1)
            torch.testing.assert_close(model.score(inputs, targets, c), want, rtol=1e-5, atol=1e-5)
    vae = SentenceVAE(config()).eval()
    with torch.no_grad():
        zk = torch.randn(4, len(SENTS), 3)                                     # K = 4 codes per sentence
        got = vae.log_px_given_z(x, zk)
        want = torch.stack([-torch_rec(vae, x, zk[k]) for k in range(4)])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
