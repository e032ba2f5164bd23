"""Compression with a VAE: lossless by bits-back ANS coding, lossy by quantized codes; classical codecs.

Lossless (Townsend, Bird & Barber 2019, "BB-ANS"). A latent variable model p(x) = sum_z p(x|z) p(z)
cannot code x directly (p(x) is intractable), but with an entropy coder that is a *stack* (asymmetric
numeral systems, ANS) it can code the pair (x, z) and get back the bits spent on choosing z:

    encode x:  pop z ~ q(z|x) off the message      (the message shrinks by  -log2 q(z|x) bits)
               push x with p(x|z)                  (it grows by             -log2 p(x|z) bits)
               push z with p(z)                    (it grows by             -log2 p(z)   bits)

so each image adds -log2 p(x|z) - log2 p(z) + log2 q(z|x) bits, a one-sample estimate of the negative
ELBO in bits. Decoding runs the three steps backwards and in reverse: pop z with p(z), pop x with p(x|z),
push z back with q(z|x), which restores the message exactly as it was before x was coded. The continuous
latent is discretized into ``2**precision`` buckets of equal prior mass per dimension (the paper's
choice), so p(bucket) = 2**-precision exactly and q(bucket|x) is the posterior mass of the bucket; the
bucket widths cancel between the pushed p(z) and the popped q(z|x), which is why the net length tracks
the continuous negative ELBO (up to the discretization of q and of z inside the decoder).

The ANS coder is ``constriction`` (Bamler 2022): ``AnsCoder.decode`` pops and ``encode_reverse`` pushes.
Encoder and decoder must compute *bit-identical* probabilities, so every network evaluation goes through
the same batch-of-one function in both directions.

Lossy: a deterministic code (the VAE's posterior mean, or PCA coefficients) is quantized with a uniform
step per dimension and entropy coded with per-dimension categorical models fitted to the codes of the
training set (shared by encoder and decoder like the network weights). Every rate here is the length of
a stream that decodes back exactly: :func:`code_latents` checks it.

The encoder's mean is a fast guess, not the best code for an image: one shared network cannot fit every
image (the amortization gap of :mod:`.inference_gap`). :func:`refine_codes` closes part of that gap at
the sender, which has the image and the decoder: a few gradient steps on each code, against the
reconstruction error plus a price on codes the shared tables make expensive (Yang, Bamler & Mandt 2020,
"Improving inference for neural image compression"). The receiver is unchanged.

Classical baselines measured on the same images: gzip / bz2 / lzma on the packed bits, PNG and lossless
WebP (Pillow) for binary images; JPEG and lossy WebP for grey-level images. Image formats carry fixed
headers of hundreds of bytes, more than a 28x28 image's content, so every image codec here codes the
whole test set as ONE mosaic (:func:`mosaic`) and the header is spread over all images.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr, ndtri

__all__ = [
    "BBANSConfig", "BBANSResult", "equal_mass_buckets", "bbans_encode", "bbans_decode",
    "bbans_compress", "bbans_step_bits", "packed_bits_codecs", "png_webp_lossless", "mosaic",
    "unmosaic", "jpeg_webp_lossy", "LatentQuantizer", "code_latents", "decode_latents", "psnr",
    "ssim", "PCACodec", "refine_codes",
]


def _constriction():
    try:
        import constriction
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("bits-back coding needs the ANS coder `constriction`: "
                          "pip install constriction==0.5.0") from err
    return constriction.stream


# =============================================================================== lossless: BB-ANS
@dataclass(frozen=True)
class BBANSConfig:
    """Settings of the bits-back coder (all part of the cached result's key)."""

    precision: int = 8          # log2 of the number of equal-prior-mass buckets per latent dimension
    initial_words: int = 64     # 32-bit words of seeded random bits the chain starts from
    seed: int = 0               # seed of those initial bits

    def __post_init__(self):
        if not 2 <= self.precision <= 16:
            raise ValueError(f"precision must be between 2 and 16 bits, got {self.precision}")
        if self.initial_words < 1:
            raise ValueError("initial_words must be at least 1 (the first pop needs bits to read)")


def equal_mass_buckets(precision: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket edges (K+1,) with -inf, +inf at the ends, and centres (K,) of K = 2**precision buckets of
    equal N(0, 1) mass: edge i is Phi^-1(i / K); the centre is the bucket's median Phi^-1((i + 1/2) / K)."""
    k = 2 ** precision
    edges = ndtri(np.arange(k + 1) / k)                  # ndtri(0) = -inf, ndtri(1) = +inf
    centres = ndtri((np.arange(k) + 0.5) / k)
    return edges, centres


def _posterior_bucket_probs(mu: np.ndarray, std: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """q(bucket i | x) = Phi((e_{i+1} - mu) / s) - Phi((e_i - mu) / s), per dimension: (D, K)."""
    cdf = ndtr((edges[None, :] - mu[:, None]) / std[:, None])
    return np.diff(cdf, axis=1)


class _Networks:
    """Batch-of-one evaluations of the encoder and decoder, used identically by the encoder and the
    decoder of the message so that both see bit-identical probabilities."""

    def __init__(self, model, centres: np.ndarray):
        if getattr(model, "config", None) is None or model.config.likelihood != "bernoulli":
            raise ValueError("bits-back coding of binary images needs a VAE with a Bernoulli likelihood")
        self.model = model
        self.shape = tuple(model.input_shape)
        self.centres = torch.as_tensor(centres, dtype=torch.float32)

    @torch.no_grad()
    def posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xt = torch.as_tensor(x, dtype=torch.float32).reshape(1, *self.shape).to(self.model.device)
        mu, logvar = self.model.encode(xt)
        return (mu[0].double().cpu().numpy(), torch.exp(0.5 * logvar[0]).double().cpu().numpy())

    @torch.no_grad()
    def pixel_probs(self, buckets: np.ndarray) -> np.ndarray:
        z = self.centres[torch.as_tensor(buckets, dtype=torch.long)].reshape(1, -1).to(self.model.device)
        logits = self.model.decode(z)
        return torch.sigmoid(logits.double()).reshape(-1).cpu().numpy()


@dataclass
class BBANSResult:
    """A coded message and what it cost.

    message       the whole message, uint32 words (what would be written to a file)
    total_bits    32 * len(message): the real length, initial bits included
    initial_bits  the seeded bits the chain started from (also inside ``total_bits``)
    n_images, dims
    seconds       wall-clock time to encode
    """

    message: np.ndarray
    total_bits: int
    initial_bits: int
    n_images: int
    dims: int
    seconds: float

    @property
    def bits_per_dim(self) -> float:
        """Length of the whole message (initial bits included) per binary pixel."""
        return self.total_bits / (self.n_images * self.dims)

    @property
    def net_bits_per_dim(self) -> float:
        """Length the images added to the initial bits, per pixel."""
        return (self.total_bits - self.initial_bits) / (self.n_images * self.dims)


def _initial_message(config: BBANSConfig) -> np.ndarray:
    rng = np.random.default_rng(config.seed)
    words = rng.integers(0, 2**32, size=config.initial_words, dtype=np.uint64).astype(np.uint32)
    words[-1] |= np.uint32(1 << 31)   # constriction needs a nonzero last word (no trailing zero bits)
    return words


def _check_binary(x: torch.Tensor | np.ndarray) -> np.ndarray:
    x = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"expected a batch of images of shape (N, 1, 28, 28), got {x.shape}")
    flat = x.reshape(len(x), -1)
    if not np.isin(flat, (0, 1)).all():
        raise ValueError("bits-back coding here codes binary images: binarize them first "
                         "(evaluate.fixed_binarization)")
    return flat.astype(np.int32)


def bbans_encode(model, x: torch.Tensor, config: BBANSConfig = BBANSConfig(),
                 record: int | None = None) -> tuple[BBANSResult, dict | None]:
    """Code the binary images ``x`` (N, 1, 28, 28) into one message, image 0 first.

    With ``record = n`` the message length (bits) before and after each of the three steps of image n
    is returned too, for the step-by-step account of one image.
    """
    stream = _constriction()
    flat = _check_binary(x)
    edges, centres = equal_mass_buckets(config.precision)
    nets = _Networks(model, centres)
    prior = stream.model.Uniform(2 ** config.precision)
    categorical = stream.model.Categorical(perfect=False)
    bernoulli = stream.model.Bernoulli(perfect=False)
    coder = stream.stack.AnsCoder(_initial_message(config))
    initial_bits = 32 * len(_initial_message(config))
    trace = None
    start = time.perf_counter()
    for n, xn in enumerate(flat):
        lengths = [coder.num_valid_bits()]
        mu, std = nets.posterior(xn)
        z = coder.decode(categorical, _posterior_bucket_probs(mu, std, edges))   # pop z ~ q(z|x)
        lengths.append(coder.num_valid_bits())
        coder.encode_reverse(xn, bernoulli, nets.pixel_probs(z))                 # push x with p(x|z)
        lengths.append(coder.num_valid_bits())
        coder.encode_reverse(z.astype(np.int32), prior)                          # push z with p(z)
        lengths.append(coder.num_valid_bits())
        if record == n:
            trace = {"index": n, "lengths": lengths, "buckets": z.copy(), "mu": mu, "std": std}
    message = coder.get_compressed().copy()
    result = BBANSResult(message, 32 * len(message), initial_bits, len(flat), flat.shape[1],
                         time.perf_counter() - start)
    return result, trace


def bbans_decode(model, message: np.ndarray, n_images: int, config: BBANSConfig = BBANSConfig()
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``n_images`` images from ``message``: returns them (N, 1, 28, 28) as uint8 in the
    original order, and the message left at the end (the initial bits, if the coding was exact)."""
    stream = _constriction()
    edges, centres = equal_mass_buckets(config.precision)
    nets = _Networks(model, centres)
    prior = stream.model.Uniform(2 ** config.precision)
    categorical = stream.model.Categorical(perfect=False)
    bernoulli = stream.model.Bernoulli(perfect=False)
    coder = stream.stack.AnsCoder(np.asarray(message, dtype=np.uint32).copy())
    d = model.latent_dim
    out = np.zeros((n_images, int(np.prod(nets.shape))), dtype=np.uint8)
    for n in reversed(range(n_images)):
        z = coder.decode(prior, d)                                              # pop z with p(z)
        xn = coder.decode(bernoulli, nets.pixel_probs(z))                       # pop x with p(x|z)
        mu, std = nets.posterior(xn)
        coder.encode_reverse(z.astype(np.int32), categorical,
                             _posterior_bucket_probs(mu, std, edges))          # give the bits back
        out[n] = xn
    return out.reshape(n_images, *nets.shape), coder.get_compressed().copy()


def bbans_compress(model, x: torch.Tensor, config: BBANSConfig = BBANSConfig(),
                   record: int | None = None) -> dict:
    """Encode ``x``, decode the message, and verify: the images come back bit for bit and the message
    shrinks back to the initial bits. Returns plain numbers (and the message) for caching."""
    result, trace = bbans_encode(model, x, config, record=record)
    start = time.perf_counter()
    decoded, rest = bbans_decode(model, result.message, result.n_images, config)
    decode_seconds = time.perf_counter() - start
    original = _check_binary(x).reshape(decoded.shape)
    return {
        "total_bits": result.total_bits, "initial_bits": result.initial_bits,
        "n_images": result.n_images, "dims": result.dims,
        "bits_per_dim": result.bits_per_dim, "net_bits_per_dim": result.net_bits_per_dim,
        "images_equal": bool(np.array_equal(decoded, original)),
        "initial_bits_recovered": bool(np.array_equal(rest, _initial_message(config))),
        "encode_seconds": result.seconds, "decode_seconds": decode_seconds,
        "message": result.message, "trace": trace,
    }


def bbans_step_bits(model, x: torch.Tensor, buckets: np.ndarray, config: BBANSConfig = BBANSConfig()
                    ) -> dict:
    """Information contents (bits) of the three steps for one binary image and its popped buckets:
    -log2 q(z|x) (taken back), -log2 p(x|z) and -log2 p(z) (spent); from the models' probabilities,
    independent of the coder, to set beside the coder's real length changes."""
    flat = _check_binary(x)[0]
    edges, centres = equal_mass_buckets(config.precision)
    nets = _Networks(model, centres)
    mu, std = nets.posterior(flat)
    q = _posterior_bucket_probs(mu, std, edges)[np.arange(len(buckets)), buckets]
    p = nets.pixel_probs(buckets)
    px = np.where(flat == 1, p, 1 - p)
    return {"q_bits": float(-np.log2(q).sum()), "x_bits": float(-np.log2(px).sum()),
            "z_bits": float(config.precision * len(buckets))}


# =============================================================================== classical lossless
def packed_bits_codecs(x: torch.Tensor | np.ndarray) -> dict[str, float]:
    """bits/dim of gzip, bz2 and lzma (each at its strongest setting) on the images' pixels packed 8 per
    byte, all images in one stream; every stream is decompressed and checked."""
    flat = _check_binary(x).astype(np.uint8)
    raw = np.packbits(flat.reshape(-1)).tobytes()
    out = {}
    for name, (comp, decomp) in {
        "gzip": (lambda b: gzip.compress(b, compresslevel=9, mtime=0), gzip.decompress),
        "bz2": (lambda b: bz2.compress(b, 9), bz2.decompress),
        "lzma": (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    }.items():
        blob = comp(raw)
        if decomp(blob) != raw:
            raise RuntimeError(f"{name} did not decode back")
        out[name] = 8 * len(blob) / flat.size
    return out


def mosaic(images: np.ndarray, columns: int = 100) -> np.ndarray:
    """Tile (N, H, W) images row-major into one (rows * H, columns * W) array (zero padded)."""
    images = np.asarray(images)
    n, h, w = images.shape
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * columns, h, w), dtype=images.dtype)
    canvas[:n] = images
    return canvas.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


def unmosaic(canvas: np.ndarray, n: int, h: int = 28, w: int = 28) -> np.ndarray:
    """Inverse of :func:`mosaic`: the first ``n`` tiles, (n, h, w)."""
    rows, columns = canvas.shape[0] // h, canvas.shape[1] // w
    tiles = canvas.reshape(rows, h, columns, w).transpose(0, 2, 1, 3).reshape(rows * columns, h, w)
    return tiles[:n]


def png_webp_lossless(x: torch.Tensor | np.ndarray, columns: int = 100) -> dict[str, float]:
    """bits/dim of PNG (1-bit, optimized) and lossless WebP (strongest method) on the binary images
    coded as one mosaic; both files are decoded and checked."""
    from PIL import Image
    flat = _check_binary(x).astype(np.uint8)
    n = len(flat)
    side = int(round(math.sqrt(flat.shape[1])))
    canvas = mosaic(flat.reshape(n, side, side) * 255, columns)
    out = {}
    for name, image, kwargs in (
        ("PNG", Image.fromarray(canvas).convert("1"), {"format": "PNG", "optimize": True}),
        ("WebP", Image.fromarray(canvas), {"format": "WEBP", "lossless": True, "quality": 100,
                                          "method": 6}),
    ):
        buf = io.BytesIO()
        image.save(buf, **kwargs)
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
        if not np.array_equal(back > 127, canvas > 127):
            raise RuntimeError(f"{name} did not decode back")
        out[name] = 8 * buf.tell() / flat.size
    return out


# =============================================================================== lossy
def _to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    x = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey images of shape (N, 1, H, W), got {x.shape}")
    return np.clip(np.rint(x[:, 0] * 255), 0, 255).astype(np.uint8)


def jpeg_webp_lossy(x: torch.Tensor, qualities: dict[str, list[int]], columns: int = 100
                    ) -> list[dict]:
    """Code the grey images (N, 1, H, W) in [0, 1] as one mosaic with JPEG / lossy WebP at each quality.

    Returns one row per (codec, quality): ``bpp`` (file bits per pixel of the N images, header spread
    over the mosaic) and the decoded images ``x_hat`` (N, 1, H, W) in [0, 1].
    """
    from PIL import Image
    pixels = _to_uint8(x)
    n, h, w = pixels.shape
    canvas = mosaic(pixels, columns)
    rows = []
    for codec, qs in qualities.items():
        fmt = {"JPEG": "JPEG", "WebP": "WEBP"}[codec]
        for q in qs:
            buf = io.BytesIO()
            kwargs = {"quality": int(q)}
            if fmt == "JPEG":
                kwargs["optimize"] = True        # optimized Huffman tables: JPEG's best at this quality
            else:
                kwargs["method"] = 6
            Image.fromarray(canvas).save(buf, format=fmt, **kwargs)
            back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
            x_hat = torch.from_numpy(unmosaic(back, n, h, w).astype(np.float32) / 255).unsqueeze(1)
            rows.append({"codec": codec, "quality": int(q), "bpp": 8 * buf.tell() / (n * h * w),
                         "x_hat": x_hat})
    return rows


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR (dB, peak 1) of the mean squared error over all images and pixels (torchmetrics)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio
    return float(peak_signal_noise_ratio(x_hat.clamp(0, 1).float(), x.float(), data_range=1.0))


def ssim(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian window) over the images (torchmetrics)."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    return float(structural_similarity_index_measure(x_hat.clamp(0, 1).float(), x.float(),
                                                     data_range=1.0))


@dataclass
class LatentQuantizer:
    """Uniform scalar quantization of codes h (N, D): index = round(h / step_d), clipped to the range
    seen on the training codes, with one categorical entropy model per dimension fitted to the training
    indices (counts + 1/2, so every index in range can be coded)."""

    step: np.ndarray          # (D,) quantization step per dimension
    low: np.ndarray           # (D,) smallest index
    tables: list[np.ndarray]  # per dimension: probabilities of indices low_d, low_d + 1, ...

    @classmethod
    def fit(cls, codes: np.ndarray, step: np.ndarray | float) -> "LatentQuantizer":
        codes = np.asarray(codes, dtype=np.float64)
        step = np.broadcast_to(np.asarray(step, dtype=np.float64), (codes.shape[1],)).copy()
        if (step <= 0).any():
            raise ValueError("quantization steps must be positive")
        idx = np.rint(codes / step).astype(np.int64)
        low, high = idx.min(axis=0), idx.max(axis=0)
        tables = []
        for d in range(codes.shape[1]):
            counts = np.bincount(idx[:, d] - low[d], minlength=high[d] - low[d] + 1) + 0.5
            tables.append(counts / counts.sum())
        return cls(step, low, tables)

    def quantize(self, codes: np.ndarray) -> np.ndarray:
        idx = np.rint(np.asarray(codes, dtype=np.float64) / self.step).astype(np.int64)
        high = self.low + np.array([len(t) for t in self.tables]) - 1
        return np.clip(idx, self.low, high)

    def dequantize(self, idx: np.ndarray) -> np.ndarray:
        return idx * self.step

    def ideal_bits(self, idx: np.ndarray) -> float:
        """Sum of -log2 P(index) under the fitted models (what an ideal entropy coder would spend)."""
        return float(sum(-np.log2(self.tables[d][idx[:, d] - self.low[d]]).sum()
                         for d in range(idx.shape[1])))


def code_latents(quantizer: LatentQuantizer, idx: np.ndarray) -> np.ndarray:
    """ANS-code the quantized indices (N, D) with the per-dimension models into one stream."""
    stream = _constriction()
    coder = stream.stack.AnsCoder()
    for d in range(idx.shape[1]):      # pushed in dimension order, so popped in reverse
        if len(quantizer.tables[d]) < 2:
            continue                    # a dimension with one possible index costs nothing
        model = stream.model.Categorical(quantizer.tables[d], perfect=False)
        coder.encode_reverse((idx[:, d] - quantizer.low[d]).astype(np.int32), model)
    return coder.get_compressed().copy()


def decode_latents(quantizer: LatentQuantizer, message: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`code_latents`."""
    stream = _constriction()
    coder = stream.stack.AnsCoder(np.asarray(message, dtype=np.uint32).copy())
    dims = len(quantizer.tables)
    idx = np.zeros((n, dims), dtype=np.int64)
    for d in reversed(range(dims)):
        if len(quantizer.tables[d]) < 2:
            idx[:, d] = quantizer.low[d]
            continue
        model = stream.model.Categorical(quantizer.tables[d], perfect=False)
        idx[:, d] = coder.decode(model, n) + quantizer.low[d]
    return idx


class PCACodec:
    """The linear baseline: project on the top-k principal components of the training images, quantize
    the coefficients with one step for all (optimal for squared error: the basis is orthonormal),
    entropy code, reconstruct."""

    def __init__(self, x_train: torch.Tensor, k: int):
        flat = x_train.reshape(len(x_train), -1).double()
        self.mean = flat.mean(0)
        # the top-k right singular vectors of the centred data are the principal directions
        _, _, v = torch.pca_lowrank(flat - self.mean, q=k, center=False, niter=4)
        self.components = v[:, :k]                      # (784, k)
        self.shape = tuple(x_train.shape[1:])

    def encode(self, x: torch.Tensor) -> np.ndarray:
        return ((x.reshape(len(x), -1).double() - self.mean) @ self.components).numpy()

    def decode(self, h: np.ndarray) -> torch.Tensor:
        flat = torch.as_tensor(h, dtype=torch.float64) @ self.components.T + self.mean
        return flat.float().clamp(0, 1).reshape(len(h), *self.shape)


def refine_codes(model, codes: np.ndarray, x: torch.Tensor, *, steps: int, lr: float,
                 rate_weight: float, centre: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Encoder-side optimization of deterministic codes h (N, D) for the images x (N, ...).

    Minimizes, per image and with the decoder frozen,

        ||x - decode_mean(h)||^2  +  rate_weight * sum_d (h_d - centre_d)^2 / (2 spread_d^2)

    by Adam from the encoder's codes, the step size decaying linearly from ``lr`` to 0 over ``steps``.
    The second term is the code length in nats of a Gaussian fitted to the training codes (centre, spread
    per dimension), a smooth stand-in for the per-dimension tables the codes are entropy coded with, so
    ``rate_weight`` is the Lagrange multiplier of distortion + rate_weight * rate. The images do not
    interact (the objective is a sum over images and Adam works per coordinate), so the result for one
    image does not depend on the batch. ``steps = 0`` returns the codes unchanged.
    """
    from .inference_gap import _frozen_eval
    codes = np.asarray(codes)
    if codes.ndim != 2 or len(codes) != len(x):
        raise ValueError(f"codes must be (N, D) with N = {len(x)} images, got {codes.shape}")
    if steps < 0 or lr <= 0 or rate_weight < 0:
        raise ValueError(f"need steps >= 0, lr > 0 and rate_weight >= 0; got {steps}, {lr}, {rate_weight}")
    spread = np.asarray(spread, dtype=np.float64)
    if (spread <= 0).any():
        raise ValueError("spread must be positive in every dimension")
    if steps == 0:
        return codes.copy()
    dev = model.device if hasattr(model, "device") else torch.device("cpu")
    m = torch.as_tensor(np.asarray(centre), dtype=torch.float32, device=dev)
    s = torch.as_tensor(spread, dtype=torch.float32, device=dev)
    x = x.to(dev)
    h = torch.tensor(codes, dtype=torch.float32, device=dev, requires_grad=True)
    opt = torch.optim.Adam([h], lr=lr)
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    with _frozen_eval(model), torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            distortion = ((model.decode_mean(h) - x) ** 2).sum()
            rate = (((h - m) / s) ** 2).sum() / 2
            (distortion + rate_weight * rate).backward()
            opt.step()
            decay.step()
    return h.detach().cpu().double().numpy()
