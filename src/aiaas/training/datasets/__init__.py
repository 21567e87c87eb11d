"""Datasets: built-in (``builtin:NAME``) and uploaded, loaded as a ``Table`` or an ``ImageSet``."""

from aiaas.training.datasets.base import (
    BUILTIN_PREFIX,
    CLASSIFICATION,
    REGRESSION,
    Dataset,
    DatasetInfo,
    ImageSet,
    Split,
    Table,
    TabularDataset,
)
from aiaas.training.datasets.builtin import BUILTINS
from aiaas.training.datasets.catalog import Catalog
from aiaas.training.datasets.tabular import split, table_of, tabular
from aiaas.training.datasets.uploads import DatasetRecord, DatasetStore

__all__ = ["BUILTINS", "BUILTIN_PREFIX", "CLASSIFICATION", "REGRESSION", "Catalog", "Dataset",
           "DatasetInfo", "DatasetRecord", "DatasetStore", "ImageSet", "Split", "Table",
           "TabularDataset", "split", "table_of", "tabular"]
