"""sendgate: an anti-spam enforcement sidecar (gRPC over Redis).

The public surface is the clients (`sendgate.client`), the generated API
(`sendgate.v1`) and the exceptions (`sendgate.errors`). Run the server with
`sendgate serve`.
"""

from sendgate.client import AsyncSendGateClient, CanSendResult, SendGateClient, Usage
from sendgate.errors import SendGateError

__version__ = "0.1.0"
__all__ = [
    "AsyncSendGateClient",
    "CanSendResult",
    "SendGateClient",
    "SendGateError",
    "Usage",
    "__version__",
]
