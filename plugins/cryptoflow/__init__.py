"""cryptoflow: keeps a PostgreSQL warehouse of crypto market and on-chain data current and correct."""
