# syntax=docker/dockerfile:1
# Bastion gateway image: multi-stage, non-root, no build tools in the final stage.
#   docker build -t bastion:0.1.0 .
#   docker run -p 8080:8080 -v $PWD/bastion.yaml:/etc/bastion/bastion.yaml:ro bastion:0.1.0
# Migrations: `docker run ... bastion:0.1.0 db upgrade --config /etc/bastion/bastion.yaml`
# (also applied at start-up, idempotent, under an advisory lock on PostgreSQL).

# ---------------------------------------------------------------- builder: wheels only
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# the project and its [scale] extra (redis, asyncpg) as wheels; all have manylinux wheels,
# so no compiler is needed here either
RUN pip wheel --wheel-dir /wheels ".[scale]"

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "bastion-gateway[scale]" \
    && groupadd --system --gid 10001 bastion \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bastion \
    && mkdir -p /etc/bastion /var/lib/bastion \
    && chown 10001:10001 /var/lib/bastion

# a SQLite ledger (single-replica use) lands in the working directory
WORKDIR /var/lib/bastion
USER 10001:10001
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]

ENTRYPOINT ["bastion"]
CMD ["serve", "--config", "/etc/bastion/bastion.yaml", "--host", "0.0.0.0"]
