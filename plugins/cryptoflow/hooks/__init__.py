"""One hook per source, all built on ``CryptoflowHttpHook``."""

from cryptoflow.hooks.base import (
    ApiError,
    ApiKeyRejected,
    ApiNotFound,
    ApiResponse,
    ApiUnavailable,
    CryptoflowHttpHook,
    MalformedResponse,
    MissingApiKey,
)

__all__ = [
    "ApiError",
    "ApiKeyRejected",
    "ApiNotFound",
    "ApiResponse",
    "ApiUnavailable",
    "CryptoflowHttpHook",
    "MalformedResponse",
    "MissingApiKey",
]
