# The connector's image: `connector serve` by default, `sync`/`backfill`/... for a CronJob.
# docs/operations.md, "Container and Kubernetes"; manifests in deploy/kubernetes/.
#
#   docker build -t hubspot-salesforce-connector:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/connector.toml:/config/connector.toml:ro" \
#       -v "$PWD/secrets:/run/secrets:ro" hubspot-salesforce-connector:0.1.0
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: a virtualenv with the project and its runtime dependencies (no dev extras).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install . \
    && /opt/venv/bin/connector --version

# Final stage: the virtualenv, the shipped mapping files, the entrypoint; no build tools.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed, numeric uid/gid: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin connector \
    && mkdir -p /config /run/secrets /opt/connector
COPY --from=build /opt/venv /opt/venv
# The shipped rules; point `[sync] mappings_dir` here, or mount your own (docs/operations.md).
COPY mappings /opt/connector/mappings
# Mode 0755 as committed (COPY keeps it; no BuildKit-only --chmod).
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY deploy/healthcheck.py /usr/local/bin/connector-healthcheck
WORKDIR /opt/connector
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# GET /healthz of `serve` with the image's own Python (no curl in the slim image). A one-shot
# command (`sync`) exits long before the first check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/connector-healthcheck"]
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
