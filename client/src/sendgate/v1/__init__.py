"""Generated protobuf and gRPC stubs for the sendgate.v1 API (DO NOT EDIT the *_pb2 files).

Regenerate with `python scripts/gen_proto.py`.
"""
