# source-aphex as an Airbyte connector image (Airbyte Core / self-managed: Settings > Sources >
# New connector > Add a new Docker connector). The platform runs it with the protocol's commands:
# `spec`, `check --config ...`, `discover --config ...`, `read --config ... --catalog ... [--state ...]`.
#   docker build -t source-aphex:dev .
#   docker run --rm source-aphex:dev spec
FROM python:3.12-slim

WORKDIR /airbyte/integration_code

# The tap and its runtime dependencies only, exactly as uv.lock pins them (no dev or e2e groups).
RUN pip install --no-cache-dir "uv==0.13.9"
COPY pyproject.toml uv.lock README.md ./
# The simulator (simulator/) is a workspace member that only the dev group installs: uv needs its
# pyproject.toml to read the workspace and check uv.lock, but none of its code goes into the image.
COPY simulator/pyproject.toml ./simulator/pyproject.toml
COPY tap_aphex ./tap_aphex
RUN uv sync --locked --no-default-groups --no-editable --compile-bytecode \
    && rm -rf /root/.cache
ENV PATH="/airbyte/integration_code/.venv/bin:${PATH}"

# Airbyte's connector images run as an unprivileged `airbyte` user (uid 1000).
RUN useradd --uid 1000 --create-home airbyte
USER airbyte

# The platform reads AIRBYTE_ENTRYPOINT to know how to call the connector.
ENV AIRBYTE_ENTRYPOINT="source-aphex"
ENTRYPOINT ["source-aphex"]

LABEL io.airbyte.name="airbyte/source-aphex"
LABEL io.airbyte.version="0.1.0"
