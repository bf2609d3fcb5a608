# syntax=docker/dockerfile:1
# Build stage: install the locked dependencies into a virtualenv and collect static files.
FROM python:3.11-slim-bookworm AS build
WORKDIR /app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /venv
COPY requirements.lock ./
RUN /venv/bin/pip install --no-cache-dir -r requirements.lock
COPY manage.py ./
COPY zektor_portal ./zektor_portal
COPY accounts ./accounts
COPY instances ./instances
COPY alerts ./alerts
COPY api ./api
COPY templates ./templates
COPY static ./static
# ZEKTOR_BOOTSTRAP lets collectstatic run without the production secrets.
RUN ZEKTOR_BOOTSTRAP=true /venv/bin/python manage.py collectstatic --noinput --verbosity 0

# Runtime stage: no build tools, a non-root user, gunicorn serving static files via whitenoise.
FROM python:3.11-slim-bookworm
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin zektor
WORKDIR /app
COPY --from=build /venv /venv
COPY --from=build --chown=zektor:zektor /app /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "zektor_portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--worker-class", "gthread", "--threads", "8", "--timeout", "30", "--access-logfile", "-"]
