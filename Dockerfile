# hedgebot: paper demo by default; mount a volume on /app/var to keep the journal.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY strategies ./strategies
COPY config ./config
RUN pip install . \
    && useradd --create-home --uid 10001 hedgebot \
    && mkdir -p /app/var \
    && chown hedgebot:hedgebot /app/var

USER hedgebot
VOLUME ["/app/var"]
ENTRYPOINT ["hedgebot"]
CMD ["run", "--config", "config/paper.toml"]
