# One image for every process: `docker run IMAGE run intake|dispatch|parts|reporting|api`.
# Configuration comes from the environment (NATS_URL, DATABASE_URL, AFTERSALES_*), see aftersales/cli.py.
# The web console's browser libraries, pinned by web/package-lock.json; only the served files are kept
# (services/reporting/console/assets.py, VENDOR).
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && mkdir -p /assets \
    && cd node_modules \
    && cp --parents echarts/dist/echarts.min.js swagger-ui-dist/swagger-ui-bundle.js swagger-ui-dist/swagger-ui.css \
       swagger-ui-dist/favicon-32x32.png redoc/bundles/redoc.standalone.js /assets/

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AFTERSALES_WEB_ASSETS=/opt/aftersales/web

WORKDIR /app

# The dossier PDF (WeasyPrint): pango to lay out text and a CJK font to embed (docs/contract.md §4).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, pinned by the lock file, so a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# Then the project itself; setuptools is pinned in the lock file, so no build isolation is needed.
COPY pyproject.toml ./
COPY aftersales ./aftersales
COPY services ./services
COPY shared ./shared
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf /app/* \
    && useradd --system --uid 10001 --no-create-home aftersales

COPY --from=web /assets /opt/aftersales/web

USER aftersales

# The read API (only `run api` listens; the other processes only talk to NATS and PostgreSQL).
EXPOSE 8080

ENTRYPOINT ["aftersales"]
CMD ["run", "api"]
