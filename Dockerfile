# Prelabel: one image for the ML backend (`prelabel serve`, the default) and the workers (`prelabel worker`).
# docker-compose.yml runs both; docs/deploy.md explains how.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A non-root user. Its ~/.cache holds downloaded model weights (the model-cache volume in docker-compose.yml).
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin prelabel

WORKDIR /app

# Dependencies first, in a layer of their own, so that a code change does not reinstall them. torch from PyPI
# brings the CUDA libraries (nvidia-*-cu12 wheels) a GPU worker needs; the host needs only the NVIDIA driver
# and the NVIDIA Container Toolkit. On a machine without a GPU the same image runs on the CPU. The image holds
# the core and the `clip` extra: the workers run CLIP.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['clip']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself.
COPY backend ./backend
RUN pip install --no-deps . && rm -rf build backend/*.egg-info

# The vocabularies (docker-compose.yml mounts ./vocab over them, so experts' edits need no rebuild).
COPY vocab ./vocab

RUN mkdir -p /data/prelabel /home/prelabel/.cache \
    && chown -R prelabel:prelabel /data/prelabel /home/prelabel/.cache /app/vocab

ENV PRELABEL_DATA_DIR=/data/prelabel \
    HF_HOME=/home/prelabel/.cache/huggingface \
    TORCH_HOME=/home/prelabel/.cache/torch \
    XDG_CACHE_HOME=/home/prelabel/.cache

USER prelabel

EXPOSE 9090

# /health answers without loading a model; with BASIC_AUTH_USER set it needs the credentials too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import base64, os, urllib.request as u; r = u.Request('http://127.0.0.1:9090/health'); a = os.environ.get('BASIC_AUTH_USER'); a and r.add_header('Authorization', 'Basic ' + base64.b64encode((a + ':' + os.environ.get('BASIC_AUTH_PASS', '')).encode()).decode()); u.urlopen(r, timeout=4)"]

CMD ["prelabel", "serve", "--host", "0.0.0.0", "--port", "9090"]
