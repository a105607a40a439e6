# One image for every process: `docker run IMAGE run intake|dispatch|parts|reporting|api`.
# Configuration comes from the environment (NATS_URL, DATABASE_URL, AFTERSALES_*), see aftersales/cli.py.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

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

USER aftersales

# The read API (only `run api` listens; the other processes only talk to NATS and PostgreSQL).
EXPOSE 8080

ENTRYPOINT ["aftersales"]
CMD ["run", "api"]
