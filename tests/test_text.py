"""Text data, the sentence VAE, its language-model and autoencoder baselines, and the text evaluation."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from thesis_code.data import text as T
from thesis_code.data.common import DataNotFoundError
from thesis_code.evaluate import text as ev
from thesis_code.likelihoods import Categorical
from thesis_code.models.sentence import RNNLanguageModel, SentenceVAE, SentenceVAEConfig, SequenceAutoencoder
from thesis_code.schedules import Schedule
from thesis_code.train import TrainConfig, fit

# A fake WordNet: licence lines (two leading spaces), synsets with and without quoted examples.
FAKE = {
    "noun": ['  1 This software and database is being provided "as is" to you\n',
             '00001740 03 n 01 dog 0 000 | a domestic animal; "the dog barked at the mailman all night"; '
             '"Dogs run fast"\n',
             '00001741 03 n 01 cat 0 000 | a feline; "the cat sat on the warm mat"\n'],
    "verb": ['00002000 29 v 01 run 0 000 | move fast; "He doesn\'t run in the rain , does he ?"; '
             '"the dog barked at the mailman all night"\n'],
    "adj": ['00003000 00 a 01 big 0 000 | of great size; "a big house on the hill by the sea"\n'],
    "adv": ['00004000 02 r 01 fast 0 000 | quickly; "she drove fast down the long and empty road"; '
            '"too short here"\n'],
}


def write_fake(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for part, lines in FAKE.items():
        (folder / f"data.{part}").write_text("".join(lines), encoding="utf-8")
    return folder


@pytest.fixture
def fake_wordnet(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(T, "SYSTEM_DIR", tmp_path / "nowhere")
    return write_fake(tmp_path / "raw/usr/share/wordnet")


# ---------------------------------------------------------------- data

def test_parsing_fake_wordnet(fake_wordnet):
    sentences = T.parse_sentences(fake_wordnet)
    assert sentences == sorted(sentences)
    assert "the dog barked at the mailman all night" in sentences            # deduplicated across files
    assert sentences.count("the dog barked at the mailman all night") == 1
    assert "he doesn't run in the rain , does he ?" in sentences             # lower case, punctuation split
    assert "dogs run fast" not in sentences and "too short here" not in sentences    # < 5 words
    assert not any("provided" in s for s in sentences)                       # licence header skipped
    assert len(sentences) == 5


def test_tokenizer_and_word_count():
    assert T.tokenize("Don't stop!  Now, OK?") == ["don't", "stop", "!", "now", ",", "ok", "?"]
    assert T.n_words(["don't", "stop", "!"]) == 2


def test_cache_and_missing_source(fake_wordnet, tmp_path):
    s1 = T.load_sentences(verify=False)
    assert (tmp_path / T.CACHE_NAME).exists()
    assert T.load_sentences(verify=False) == s1
    # the pinned checksum of the real WordNet does not match the fake files: a clear error
    (tmp_path / T.CACHE_NAME).unlink()
    with pytest.raises(DataNotFoundError, match="wordnet-base"):
        T.load_sentences(verify=True)
    for f in fake_wordnet.iterdir():
        f.unlink()
    with pytest.raises(DataNotFoundError, match="apt-get install wordnet-base"):
        T.load_sentences(verify=False)


def test_splits_stable_disjoint_and_proportional():
    sentences = [f"sentence number {i} of the test set" for i in range(3000)]
    parts = T.split_sentences(sentences)
    assert sum(len(p) for p in parts.values()) == 3000
    assert not set(parts["train"]) & set(parts["test"]) and not set(parts["train"]) & set(parts["validation"])
    assert abs(len(parts["train"]) / 3000 - 0.8) < 0.03 and abs(len(parts["test"]) / 3000 - 0.1) < 0.02
    # a sentence's split depends on itself only: the same with a shuffled or shortened list
    again = T.split_sentences(list(reversed(sentences[:1000])))
    assert set(again["test"]) == set(parts["test"]) & set(sentences[:1000])
    assert T.split_sentences(sentences, seed=1)["test"] != parts["test"]


def test_vocab_fitted_on_train_only_and_round_trip():
    train = ["a b c a", "a b", "d"]
    v = T.Vocab.fit(train, min_count=2)
    assert v.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]
    assert v.encode("a z b") == [2, 4, 1, 5, 3]
    assert v.decode([2, 4, 1, 5, 3, 0, 0]) == "a <unk> b"
    assert T.Vocab.fit(train, max_size=5).tokens[4:] == ["a"]
    restored = T.Vocab.from_dict(v.to_dict())
    assert restored.fingerprint() == v.fingerprint() and restored.tokens == v.tokens
    assert T.Vocab.fit(["a b c"]).fingerprint() != v.fingerprint()
    with pytest.raises(ValueError, match="must start with"):
        T.Vocab(["a", "b"])


def test_text_data_padding_lengths_and_protocol():
    v = T.Vocab.fit(["the dog ran", "a cat"])
    data = T.TextData(["the dog ran", "a cat", "the cat ran away"], v)
    (batch, y) = data.batch(torch.tensor([1, 0]))
    assert y is None and batch.tokens.shape == (2, 5)
    assert batch.lengths.tolist() == [4, 5]
    assert batch.tokens[0].tolist() == [v.bos_id, v.index["a"], v.index["cat"], v.eos_id, v.pad_id]
    assert data.all().tokens[2, 4].item() == v.unk_id                      # "away" not in the vocabulary
    assert len(data) == 3 and data.to("cpu").fingerprint() == data.fingerprint()
    assert T.TextData(["the dog ran"], v).fingerprint() != data.fingerprint()
    assert 0 < data.unk_rate() < 1


# ---------------------------------------------------------------- models

VOCAB = T.Vocab.fit(["a b c d e f", "b c a", "f e d"])
SENTS = ["a b c", "d e f a", "b", "c c d e f", "f", "a a b b c"]


def batch(sentences=SENTS):
    return T.pad_batch([VOCAB.encode(s) for s in sentences])


def small(**kw):
    return SentenceVAEConfig(vocab_size=len(VOCAB), embed_dim=8, hidden_dim=12, latent_dim=3, **kw)


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_shapes_and_losses(rnn):
    torch.manual_seed(0)
    x = batch()
    for cls in (SentenceVAE, RNNLanguageModel, SequenceAutoencoder):
        m = cls(small(rnn=rnn))
        loss, metrics = m.loss(x)
        assert loss.dim() == 0 and math.isfinite(loss.item()) and "loss" in metrics
    vae = SentenceVAE(small(rnn=rnn))
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (6, 3)
    assert vae.elbo(x).shape == (6,) and vae.log_weights(x, 5).shape == (5, 6)
    _, metrics = vae.loss(x)
    assert set(metrics) >= {"loss", "rec", "kl", "kl_weight"}
    with pytest.raises(TypeError, match="TokenBatch"):
        vae.loss(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="rnn"):
        small(rnn="transformer")


def test_encoder_ignores_padding():
    """The code of a sentence does not depend on how much padding its batch has."""
    torch.manual_seed(0)
    vae = SentenceVAE(small()).eval()
    alone = vae.encode(batch(["a b"]))[0]
    padded = vae.encode(batch(["a b", "a b c d e f a b c"]))[0][:1]
    torch.testing.assert_close(alone, padded)


def test_categorical_log_likelihood_matches_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(4, 7, 11)
    ids = torch.randint(1, 11, (4, 7))
    ids[1, 5:] = 0                                                   # padding
    got = Categorical(pad=0).log_prob(ids, logits)
    lp = torch.distributions.Categorical(logits=logits).log_prob(ids)
    want = (lp * (ids != 0)).sum(-1)
    torch.testing.assert_close(got, want)


def test_language_model_exact_likelihood_by_enumeration():
    """(1) The LM's log p(s) equals the chain rule evaluated one token at a time, the recurrent state carried
    by hand. (2) Brute force over a 2-word vocabulary: the probabilities of every sentence of at most L
    tokens, plus the mass of the prefixes that emit <pad> (never a word, masked as a target) and of those
    still running after L tokens, sum to 1, so the exact NLL is the NLL of a normalized distribution."""
    torch.manual_seed(0)
    v = T.Vocab(list(T.SPECIALS) + ["x", "y"])
    lm = RNNLanguageModel(SentenceVAEConfig(vocab_size=len(v), embed_dim=4, hidden_dim=5, latent_dim=1)).eval()
    x = T.pad_batch([[v.bos_id, 4, 5, 4, v.eos_id]])
    with torch.no_grad():
        state, chain = None, 0.0
        for t in range(x.tokens.shape[1] - 1):
            logits, state = lm.decoder(x.tokens[:, t:t + 1], None, state)
            chain += torch.log_softmax(logits[0, -1], -1)[x.tokens[0, t + 1]].item()
        assert lm.log_prob(x).item() == pytest.approx(chain, abs=1e-5)

    words = [i for i in range(1, len(v)) if i != v.eos_id]          # every id a sentence may contain
    max_len = 3

    def next_log_probs(prefix):                                     # log p(. | <bos> prefix)
        tokens = torch.tensor([[v.bos_id, *prefix]])
        logits = lm.decoder(tokens)[0][0]
        lp = torch.log_softmax(logits, -1)
        head = lp[:-1].gather(-1, tokens[0, 1:, None]).sum() if prefix else torch.tensor(0.0)
        return head, lp[-1]

    ended = pad_mass = running = 0.0
    with torch.no_grad():
        for n in range(max_len + 1):
            for prefix in itertools.product(words, repeat=n):
                ended += lm.log_prob(T.pad_batch([[v.bos_id, *prefix, v.eos_id]])).exp().item()
                head, lp = next_log_probs(list(prefix))
                pad_mass += (head + lp[v.pad_id]).exp().item()
                if n == max_len:
                    running += (head + torch.logsumexp(lp[words], 0)).exp().item()
    assert ended + pad_mass + running == pytest.approx(1.0, abs=1e-5)


def test_iwae_bound_increases_with_k_and_stays_below_the_exact_likelihood():
    """With a latent of dimension 1, log p(s) = log E_{p(z)} p(s|z) is computed by quadrature on a fine grid;
    the K-sample bounds (means over repetitions, with Monte Carlo standard errors) rise with K and stay
    below it. The decoder is made to depend strongly on z and q(z|s) is made narrow and off-centre, so
    that the ELBO's gap is large."""
    torch.manual_seed(0)
    vae = SentenceVAE(SentenceVAEConfig(vocab_size=len(VOCAB), embed_dim=4, hidden_dim=6, latent_dim=1)).eval()
    with torch.no_grad():
        vae.decoder.init.weight.mul_(8.0)
        vae.to_posterior.weight.zero_()
        vae.to_posterior.bias.copy_(torch.tensor([1.0, -3.0]))        # q = N(1, e^-3) for every sentence
    x = batch(["a b", "c d e"])
    z = torch.linspace(-8, 8, 4001)[:, None]
    from thesis_code.objectives import iwae_bound
    with torch.no_grad():
        lpz = vae.log_px_given_z(T.TokenBatch(x.tokens.repeat(len(z), 1), x.lengths.repeat(len(z))),
                                 z.repeat_interleave(2, 0)).view(len(z), 2)
        log_prior = -0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)
        exact = torch.logsumexp(lpz + log_prior, 0) + math.log(16 / 4000)
        g = torch.Generator().manual_seed(0)
        stats = []
        for k in (1, 10, 200):
            reps = torch.stack([iwae_bound(vae.log_weights(x, k, generator=g)) for _ in range(100)])
            stats.append((reps.mean(0), reps.std(0) / 10))
    (m1, s1), (m10, s10), (m200, s200) = stats
    assert torch.all(m1 + 0.1 < m10) and torch.all(m10 <= m200 + 3 * (s10 + s200))
    assert torch.all(m200 <= exact + 3 * s200)
    assert torch.all(exact - m1 > 0.2)                                 # the ELBO's gap is real


def test_schedules_drive_kl_weight_and_word_dropout():
    cfg = small(word_dropout=Schedule("linear", 0.0, 1.0, steps=10),
                kl_weight=Schedule("logistic", 0.0, 1.0, steps=50, steepness=0.5))
    vae = SentenceVAE(cfg).train()
    vae.set_step(0)
    assert vae.kl_weight() < 1e-6 and vae.word_dropout_rate() == 0.0
    x = batch().tokens[:, :-1]
    assert torch.equal(vae.drop_words(x), x)
    vae.set_step(50)
    assert vae.kl_weight() == pytest.approx(0.5)
    vae.set_step(10)
    dropped = vae.drop_words(x)                       # rate 1: every word (not <bos>, not <pad>) is <unk>
    words = (x != 0) & (x != VOCAB.bos_id)
    assert torch.all(dropped[words] == VOCAB.unk_id) and torch.equal(dropped[~words], x[~words])
    vae.eval()
    assert torch.equal(vae.drop_words(x), x)          # no word dropout at evaluation
    vae.train()
    _, m = vae.loss(batch())
    assert m["kl_weight"] == pytest.approx(cfg.kl_weight(10))


def test_decoding():
    torch.manual_seed(0)
    vae = SentenceVAE(small()).eval()
    z = torch.randn(4, 3)
    ids = vae.decode_greedy(z, max_len=7)
    assert ids.shape[0] == 4 and ids.shape[1] <= 7
    assert torch.equal(ids, vae.decode_greedy(z, max_len=7))                        # deterministic
    # after <eos> only padding
    for row in ids:
        hits = (row == VOCAB.eos_id).nonzero()
        if len(hits):
            assert torch.all(row[hits[0, 0] + 1:] == VOCAB.pad_id)
    # greedy picks the argmax of the model's own next-token distribution over the allowed tokens
    logits = vae.decoder(torch.full((4, 1), VOCAB.bos_id), z)[0][:, 0]
    allowed = logits.clone()
    allowed[:, [VOCAB.pad_id, VOCAB.bos_id, VOCAB.unk_id]] = -math.inf
    assert torch.equal(ids[:, 0], allowed.argmax(-1))
    assert not torch.any((ids == VOCAB.unk_id) | (ids == VOCAB.bos_id))
    with torch.no_grad():
        vae.decoder.out.bias[VOCAB.unk_id] = 100.0                       # <unk> dominates every step
    assert torch.all(vae.decode_greedy(z, max_len=3, allow_unk=True) == VOCAB.unk_id)
    assert not torch.any(vae.decode_greedy(z, max_len=3) == VOCAB.unk_id)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(vae.decode_sample(z, g1, max_len=7), vae.decode_sample(z, g2, max_len=7))


def _train(folder, epochs):
    torch.manual_seed(123)
    data = T.TextData(SENTS * 4, VOCAB)
    vae = SentenceVAE(small(word_dropout=0.3, kl_weight=Schedule("linear", 0.0, 1.0, steps=6)))
    fit(vae, data, config=TrainConfig(epochs=epochs, batch_size=8, progress=False, seed=3), folder=folder)
    return vae


def test_resume_is_bit_identical(tmp_path):
    straight = _train(tmp_path / "a", 2)
    _train(tmp_path / "b", 1)
    resumed = _train(tmp_path / "b", 2)
    for (k, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), k
    assert resumed.step == straight.step > 0


# ---------------------------------------------------------------- evaluation

def test_edit_distance_and_path_metrics():
    assert ev.edit_distance("a b c".split(), "a c".split()) == 1
    assert ev.edit_distance([], "a b".split()) == 2
    assert ev.edit_distance("k i t t e n".split(), "s i t t i n g".split()) == 3
    smooth = ["a b c d", "a b c e", "a b f e", "g b f e", "g h f e"]
    m = ev.monotonicity(smooth)
    assert m.steps == 1.0 and m.spearman == pytest.approx(1.0)
    jumpy = ["a b c d", "g h f e", "a b c d", "g h f e"]
    assert ev.monotonicity(jumpy).steps == pytest.approx(2 / 3)       # steps 1 and 3 move the right way
    assert math.isnan(ev.monotonicity(["a", "a", "a"]).spearman)
    assert ev.distinct_share(["a", "a", "b", "c"]) == 0.75


def test_largest_step_against_hand_computation():
    # d(start, end) = d("a b c d", "g h f e") = 4 substitutions; the steps below change 1, 1, 1, 1 words
    smooth = ["a b c d", "a b c e", "a b f e", "g b f e", "g h f e"]
    assert ev.largest_step(smooth) == pytest.approx(1 / 4)
    # stay on the start three times, then jump: the largest step is the whole distance
    jump = ["a b c d", "a b c d", "a b c d", "g h f e"]
    assert ev.largest_step(jump) == pytest.approx(1.0)
    assert ev.monotonicity(jump).steps == 1.0                       # (b) cannot tell it from `smooth`
    # a detour: "a b" -> "x y z w" (2 subs + 2 inserts = 4) -> "a c" (2 deletes + 2 subs = 4); d(start, end) = 1
    assert ev.largest_step(["a b", "x y z w", "a c"]) == pytest.approx(4.0)
    assert math.isnan(ev.largest_step(["a b", "c", "a b"]))        # same start and end: nothing to share
    with pytest.raises(ValueError, match="two points"):
        ev.largest_step(["a"])


def test_reconstruction_error_and_unk_decoding():
    torch.manual_seed(0)
    vae = SentenceVAE(small()).eval()
    data = T.TextData(SENTS, VOCAB)
    with torch.no_grad():
        vae.decoder.out.bias[VOCAB.unk_id] = 100.0              # <unk> dominates every step when allowed
    banned = ev.reconstruction_error(vae, VOCAB, data, allow_unk=False, max_len=7)
    allowed = ev.reconstruction_error(vae, VOCAB, data, allow_unk=True, max_len=7)
    # with <unk> allowed every decoding is seven <unk>s that never end: by hand, the error of a sentence of
    # n words is its edit distance to 7 unknown words, max(n, 7) substitutions and insertions = 7, over n
    assert all(d == " ".join(["<unk>"] * 7) for d in allowed.decodings)
    assert allowed.at_max_len == 1.0
    assert allowed.error == pytest.approx(sum(7 / len(s.split()) for s in SENTS) / len(SENTS))
    assert not any("<unk>" in d for d in banned.decodings)
    codes = ev.sentence_codes(vae, data).mu
    want = [ev.edit_distance(d.split(), s.split()) / len(s.split())
            for d, s in zip(ev.decode_ids(VOCAB, vae.decode_greedy(codes, 7)), SENTS)]
    assert banned.error == pytest.approx(sum(want) / len(want))
    # the interpolation scores pass the decoding on: all points decode to the same <unk> string
    lm = RNNLanguageModel(small()).eval()
    sc = ev.interpolation_scores(vae, lm, VOCAB, codes, ev.random_pairs(len(data), 3), steps=4, max_len=5,
                                 allow_unk=True)
    assert sc.allow_unk and all(p == ["<unk> <unk> <unk> <unk> <unk>"] * 4 for p in sc.paths)
    assert sc.distinct == 0.25 and math.isnan(sc.largest_step)


def test_perplexity_counts_eos_and_matches_exact_lm():
    torch.manual_seed(0)
    lm = RNNLanguageModel(small()).eval()
    data = T.TextData(SENTS, VOCAB)
    lik = ev.sentence_log_likelihood(lm, data)
    x = data.all()
    with torch.no_grad():
        logits = lm.decoder(x.tokens[:, :-1])[0]
    lp = torch.distributions.Categorical(logits=logits).log_prob(x.tokens[:, 1:])
    mask = x.tokens[:, 1:] != 0
    want = (lp * mask).sum()
    assert lik.n_tokens.sum().item() == sum(len(s.split()) + 1 for s in SENTS)
    assert lik.perplexity == pytest.approx(math.exp(-want.item() / mask.sum().item()), rel=1e-5)
    assert ev.fluency(lm, VOCAB, SENTS) == pytest.approx(lik.perplexity, rel=1e-6)


def test_fluency_without_unk_against_torch_distributions():
    torch.manual_seed(0)
    lm = RNNLanguageModel(small()).eval()
    sents = ["a b <unk> c", "<unk> <unk> d", "e f", "<unk> a"]
    x = T.TextData(sents, VOCAB).all()
    with torch.no_grad():
        logits = lm.decoder(x.tokens[:, :-1])[0]
    lp = torch.distributions.Categorical(logits=logits).log_prob(x.tokens[:, 1:])
    targets = x.tokens[:, 1:]
    keep = (targets != VOCAB.pad_id) & (targets != VOCAB.unk_id)
    # by hand: known targets (words other than <unk>, and <eos>) are 4, 2, 3 and 2 in the four sentences
    assert int(keep.sum()) == 11
    want = math.exp(-(lp * keep).sum().item() / 11)
    assert ev.fluency_without_unk(lm, VOCAB, sents, batch_size=3) == pytest.approx(want, rel=1e-5)
    # <unk> predictions are left out, so the score differs from the plain fluency here ...
    assert ev.fluency_without_unk(lm, VOCAB, sents) != pytest.approx(ev.fluency(lm, VOCAB, sents), rel=1e-3)
    # ... and equals it on sentences without <unk>
    assert ev.fluency_without_unk(lm, VOCAB, SENTS) == pytest.approx(ev.fluency(lm, VOCAB, SENTS), rel=1e-5)
    with pytest.raises(ValueError, match="no sentences"):
        ev.fluency_without_unk(lm, VOCAB, [])


def test_codes_kl_and_interpolation_scores():
    torch.manual_seed(0)
    vae = SentenceVAE(small()).eval()
    lm = RNNLanguageModel(small()).eval()
    data = T.TextData(SENTS, VOCAB)
    codes = ev.sentence_codes(vae, data)
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(codes.mu, (0.5 * codes.logvar).exp()),
        torch.distributions.Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(codes.kl_per_dim(), kl)
    assert 0 <= codes.active_units() <= 3
    pairs = ev.random_pairs(len(data), 4)
    assert torch.all(pairs[:, 0] != pairs[:, 1])
    scores = ev.interpolation_scores(vae, lm, VOCAB, codes.mu, pairs, steps=5, path="slerp")
    assert len(scores.paths) == 4 and all(len(p) == 5 for p in scores.paths)
    assert 0 < scores.distinct <= 1 and 0 <= scores.monotone_steps <= 1 and scores.interior_perplexity > 1
    jumps = [ev.largest_step(p) for p in scores.paths]
    defined = [j for j in jumps if not math.isnan(j)]
    if defined:
        assert scores.largest_step == pytest.approx(sum(defined) / len(defined))
    else:
        assert math.isnan(scores.largest_step)
    # the path's endpoints are the greedy decodes of the two codes
    assert scores.paths[0][0] == ev.decode_ids(VOCAB, vae.decode_greedy(codes.mu[pairs[0, :1]]))[0]
    with pytest.raises(ValueError, match="path"):
        ev.homotopy(vae, VOCAB, codes.mu[0], codes.mu[1], path="bezier")


def test_sentence_interpolation_explorer():
    from thesis_code.text_widgets import sentence_interpolation_explorer
    torch.manual_seed(0)
    vae = SentenceVAE(small()).eval()
    ex = sentence_interpolation_explorer(vae, VOCAB, ["a b c", "d e f a"], static_steps=5)
    z_a, z_b = ex.codes()
    ex.slider.value = 0.0
    assert ex.decode_at(0.0) == ev.decode_ids(VOCAB, vae.decode_greedy(z_a[None]))[0]
    assert ex.decode_at(0.0) in ex.label.value
    rows = ex.table()
    assert len(rows) == 5 and rows[-1][1] == ex.decode_at(1.0)
    ex.path.value = "slerp"
    torch.testing.assert_close(ex.code_at(0.5).norm(), 0.5 * (z_a.norm() + z_b.norm()), rtol=0.5, atol=0)
    ex.box_b.value = "a typed sentence with unknown words"          # free text is accepted
    bundle = ex._repr_mimebundle_()
    assert "image/png" in bundle and "application/pdf" in bundle
    with pytest.raises(ValueError, match="method"):
        sentence_interpolation_explorer(vae, VOCAB, ["a"], method="bezier")
