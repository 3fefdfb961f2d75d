"""`sendgate console`: a web console for trust-and-safety reviewers over a sidecar's admin API.

It talks only to SendGateAdmin (never to Redis). Needs the `console` extra
(Starlette, Jinja2, uvicorn, python-multipart, itsdangerous). The entry points
below import none of it until the console starts.
"""

from sendgate.console.command import add_arguments, main, run_args

__all__ = ["add_arguments", "main", "run_args"]
