# Sync Analyzer service image: Debian, Python 3.11, ffmpeg; runs as an unprivileged user.
#
#   docker build -t sync-analyzer-api .
#   docker run -p 8000:8000 -v /mnt/data:/mnt/data sync-analyzer-api
#
# The programmes are read from MOUNT_PATH=/mnt/data (mount the shared storage there); what the
# service writes (uploads, outputs, the SQLite database) goes under /data (a volume for keeps:
# -v sync-data:/data). HOST and PORT are read by `python main.py` (-e PORT=9000 -p 9000:9000).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/sync-analyzer
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .

RUN useradd --system --uid 10001 --user-group --home-dir /srv/sync-analyzer \
        --shell /usr/sbin/nologin sync \
 && mkdir -p /mnt/data /data/uploads /data/output \
 && chown -R sync:sync /data

ENV HOST=0.0.0.0 \
    PORT=8000 \
    MOUNT_PATH=/mnt/data \
    UPLOAD_DIR=/data/uploads \
    OUTPUT_DIR=/data/output \
    DATABASE_URL=sqlite:////data/sync_analyzer.db \
    AI_MODEL_CACHE_DIR=/srv/sync-analyzer/ai_models \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER sync
VOLUME ["/data"]
EXPOSE 8000
# 503 (a component in error: ffmpeg, database, a full disk) or no answer = unhealthy
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('PORT', '8000'), timeout=8)"]
CMD ["python", "main.py"]
