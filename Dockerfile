# syntax=docker/dockerfile:1
# The base image, in one place: pin it by digest for reproducible builds
# (PYTHON_IMAGE=python:3.11-slim@sha256:…; docs/operations.md, "Reproducible builds").
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: build the wheel of funnelsync and its dependencies, at the versions of the lock file.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements/lock.txt ./requirements/lock.txt
COPY config ./config
COPY connector ./connector
COPY storage ./storage
COPY kpi ./kpi
COPY service ./service
COPY sandbox ./sandbox
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint requirements/lock.txt .

# Runtime stage: only the installed wheels, a non-root user, data on a volume.
# tests/test_container.py runs this stage's ENTRYPOINT + CMD with its ENV against PostgreSQL.
FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 funnelsync \
    && mkdir -p /data && chown funnelsync:funnelsync /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER funnelsync
WORKDIR /data
ENV FUNNELSYNC_DATA_DIR=/data \
    FUNNELSYNC_SERVICE__HOST=0.0.0.0 \
    FUNNELSYNC_SERVICE__PORT=8400 \
    FUNNELSYNC_LOG_JSON=true
VOLUME ["/data"]
EXPOSE 8400
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["funnelsync", "check", "--service"]
ENTRYPOINT ["funnelsync"]
CMD ["serve"]
