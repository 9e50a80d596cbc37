"""Ferry's Python SDK: ``FerryClient`` and ``AsyncFerryClient`` for the auth and files APIs and the notifier."""

from ferry_sdk._multipart import ProgressCallback
from ferry_sdk.async_client import AsyncFerryClient
from ferry_sdk.client import Destination, FerryClient
from ferry_sdk.errors import (
    BadRequest,
    Conflict,
    FerryError,
    Forbidden,
    NotFound,
    OtpRequired,
    PayloadTooLarge,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)
from ferry_sdk.models import (
    ApiKey,
    ApiKeyWithSecret,
    FileDetail,
    FileList,
    FileProgress,
    FileRecord,
    FileStats,
    FileStatus,
    Message,
    PagesContent,
    Progress,
    TableContent,
    TokenPair,
    User,
)
from ferry_sdk.tokens import Tokens

__version__ = "0.1.0"

__all__ = [
    "ApiKey",
    "ApiKeyWithSecret",
    "AsyncFerryClient",
    "BadRequest",
    "Conflict",
    "Destination",
    "FerryClient",
    "FerryError",
    "FileDetail",
    "FileList",
    "FileProgress",
    "FileRecord",
    "FileStats",
    "FileStatus",
    "Forbidden",
    "Message",
    "NotFound",
    "OtpRequired",
    "PagesContent",
    "PayloadTooLarge",
    "Progress",
    "ProgressCallback",
    "ServerError",
    "ServiceUnavailable",
    "TableContent",
    "TokenPair",
    "Tokens",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "UnsupportedMediaType",
    "User",
]
