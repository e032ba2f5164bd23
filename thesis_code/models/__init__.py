"""The models of the thesis. Every class is re-exported here: ``from thesis_code.models import VAE``."""
from .networks import ConvDecoder, ConvEncoder, check_input, mlp  # noqa: F401
from .vae import VAE, BetaVAE, ConditionalVAE, IWAE, VAEConfig  # noqa: F401
from .autoencoders import (  # noqa: F401
    AEConfig, Autoencoder, ContractiveAE, ContractiveAEConfig, DenoisingAE, DenoisingAEConfig, GaussianNoise,
    MaskingNoise, SaltAndPepper, SparseAE, SparseAEConfig, StackedAutoencoder, StochasticAE, StochasticAEConfig,
)
from .adversarial import (  # noqa: F401
    GAN, AAEConfig, AdversarialAE, GANConfig, MixtureOfGaussiansPrior, StandardNormalPrior,
)
from .sentence import RNNLanguageModel, SentenceVAE, SentenceVAEConfig, SequenceAutoencoder  # noqa: F401
from .tabular import MixedLikelihood, TabularVAE, TabularVAEConfig  # noqa: F401
