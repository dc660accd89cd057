# syntax=docker/dockerfile:1
# hedgebot: paper demo by default. Mount a volume on /app/var (journal, kill switch, locks); a
# bind-mounted folder must belong to uid 10001. Stop it with SIGTERM (docker stop): the bot
# finishes the current cycle, closes the journal and exits 0. Run it with `docker run --init`
# (compose: `init: true`) so a signal that arrives before the bot installs its handlers still
# stops it. BASE: any Debian-like image with python3 >= 3.11 and pip (scripts/build_image.sh
# makes one with debootstrap where nothing can be pulled).
ARG BASE=python:3.11-slim

# -- the dependency list alone: editing pyproject.toml's tool settings keeps the next layer -----
FROM ${BASE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > requirements.txt

# -- build: dependencies into /opt/hedgebot (own layer), then the hedgebot wheel ----------------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY --from=requirements /src/requirements.txt ./
RUN python3 -m venv --without-pip /opt/hedgebot \
    && python3 -m pip --python /opt/hedgebot/bin/python install -r requirements.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY strategies ./strategies
RUN python3 -m pip wheel --no-deps --wheel-dir /wheels . \
    && python3 -m pip --python /opt/hedgebot/bin/python install --no-deps /wheels/hedgebot-*.whl

# -- runtime: the virtualenv and the configs; no source tree, no build/, no egg-info -------------
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/hedgebot/bin:$PATH \
    HEDGEBOT_LOCK_DIR=/app/var/locks
RUN useradd --create-home --uid 10001 --user-group hedgebot \
    && mkdir -p /app/var \
    && chown hedgebot:hedgebot /app/var \
    && chmod 700 /app/var
COPY --from=build /opt/hedgebot /opt/hedgebot
WORKDIR /app
COPY config ./config

USER 10001:10001
VOLUME ["/app/var"]
EXPOSE 9108
# /healthz on the loopback address inside the container: no token needed. 503 (halted, no
# recent cycle) or no answer fails the check.
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["hedgebot"]
CMD ["run", "--config", "config/paper.toml", "--speed", "3600", "--http", "127.0.0.1:9108"]
