"""Evaluation of the models of the thesis, split by task.

    likelihood      importance-sampled log p(x), nats and bits/dim (discrete likelihoods only)
    codes           reconstruction error, KL per latent dimension, active units, collapse report
    sample_quality  Frechet classifier distance of samples, with the classifier's accuracy
    classifier      the small CNN whose features define that distance
    anomaly         the VAE's anomaly scores (negative ELBO, -log p(x), reconstruction, KL, aggregate
                    posterior, likelihood ratio, complexity correction, standardized sum of
                    scores); AUROC, AP, ROC and PR curves
    compression     bits-back ANS coding, classical codecs, the lossy latent codec
    synthesis       TSTR efficacy, fidelity and privacy of synthetic tables
    text            sentence likelihoods, perplexity and homotopy metrics
    inference_gap   the inference gap split into approximation and amortization parts (Cremer et al. 2018)
    intervals       the Student-t interval of a mean over seeds, used by every comparison in the book

Every function takes any model that follows the protocol of ARCHITECTURE.md. The names of all task
modules are re-exported here: ``from thesis_code import evaluate; evaluate.auroc(...)``.
"""
from .likelihood import *  # noqa: F401,F403
from .likelihood import LikelihoodResult, bits_per_dim, fixed_binarization, log_likelihood, test_log_likelihood  # noqa: F401
from .codes import *  # noqa: F401,F403
from .sample_quality import *  # noqa: F401,F403
from .anomaly import *  # noqa: F401,F403
from .anomaly import _scores_labels  # noqa: F401
from .inference_gap import *  # noqa: F401,F403
from .intervals import *  # noqa: F401,F403
