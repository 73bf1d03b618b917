"""Helius: enhanced transactions of tracked whale wallets and watchlist tokens, token transfers, trades, whale
movements and alerts, FIFO wallet statistics."""

from cryptoflow.sources.helius.dataset import HeliusTransactions

DATASETS = {"transactions": HeliusTransactions()}
