"""DefiLlama: keyless TVL, fees, volumes, stablecoins and yields (plus Pro-only metrics with a key).

``defillama_hourly`` runs the metric datasets (``metrics.py``), ``defillama_daily`` the catalog ones (``catalog.py``).
"""

from cryptoflow.sources.defillama.catalog import (
    CatalogDataset,
    ContractMappingsDataset,
    EntityMapDataset,
    PoolHistoryDataset,
    PoolsDataset,
)
from cryptoflow.sources.defillama.metrics import hourly_datasets

HOURLY = hourly_datasets()
DAILY = {d.name: d for d in (CatalogDataset(), PoolsDataset(), PoolHistoryDataset(), ContractMappingsDataset(),
                             EntityMapDataset())}
DATASETS = {**HOURLY, **DAILY}

__all__ = ["DAILY", "DATASETS", "HOURLY"]
