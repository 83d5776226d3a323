# syntax=docker/dockerfile:1
# Multi-stage: build wheels with the pinned constraints, then a slim runtime as a non-root user.
ARG PYTHON=3.11

FROM python:${PYTHON}-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY workers ./workers
COPY models ./models
# CPU torch by default; the gpu worker's image (docker-compose.yml) passes a CUDA index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --extra-index-url ${TORCH_INDEX} -c constraints.txt ".[server]"

FROM python:${PYTHON}-slim AS runtime
RUN useradd --create-home --uid 10001 kalmanac
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY alembic.ini ./
COPY migrations ./migrations
# numba caches its compiled kernels beside the code, which the app user cannot write here.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 KALMANAC_ENV=production \
    NUMBA_CACHE_DIR=/home/kalmanac/.cache/numba
USER kalmanac
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
