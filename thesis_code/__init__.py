"""thesis_code: the shared package behind the executable thesis on variational autoencoders.

Every chapter of the book calls into these modules; nothing in the notebooks defines a model or a loop.

    data        offline MNIST / Fashion-MNIST, verified and cached
    profiles    smoke / book / full execution profiles and notebook parameters
    storage     atomic writes and the config-keyed experiment cache
    models      the autoencoder taxonomy, the VAE family, the adversarial autoencoder and a GAN
    objectives  KL divergences, ELBO estimators, IWAE bound, regularization penalties
    train       one trainer for every model
    evaluate    likelihood estimates, reconstruction, active units, Frechet distance, AUROC
    latent      encoding, interpolation, traversals, the 2-D manifold grid, neighbours
    widgets     ipywidgets latent explorers with static fallbacks
    plots       the figure style of the thesis
"""
__version__ = "0.1.0"
