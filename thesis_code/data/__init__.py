"""Data, offline and verified, split by modality.

    common     the data folder, the missing-data error, checksums
    batches    the data-set protocol the trainer consumes (TensorData, dynamic binarization)
    images     MNIST and Fashion-MNIST
    one_class  one-class splits of them (anomaly detection)
    text       WordNet 3.0 example sentences: tokenizer, vocabulary, splits, padded batches
    tables     the UCI Adult census: schema, split, missing values, the column transformer

``from thesis_code.data import load`` keeps working: the image API is re-exported here. The text and
table modules are imported where they are used (``from thesis_code.data import text``).
"""
from .common import DataNotFoundError, data_dir  # noqa: F401
from .images import (  # noqa: F401
    FASHION_MNIST, MNIST, SPECS, DatasetSpec, binarize, load, load_arrays, load_fashion_mnist, load_mnist,
    prepare,
)
