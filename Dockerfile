# Printerlynx backend image. Not built on the development machines (no Docker engine there): see
# docs/operations.md. Build: docker build -t printerlynx .   Run: see compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PRINTERLYNX_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home printerlynx

USER printerlynx
VOLUME ["/data"]
EXPOSE 3000

# /health answers 503 while the database, broker or storage is unreachable.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=2).status != 200)"]

CMD ["printerlynx", "serve", "--host", "0.0.0.0", "--port", "3000"]
