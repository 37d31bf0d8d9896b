# syntax=docker/dockerfile:1
# A quoted ENV HOME for a non-root user: the pip cache is at the unquoted
# path. The first install mounts it by hand; the second does not.
FROM python:3.12-slim
ENV HOME="/home/app" PIP_DISABLE_PIP_VERSION_CHECK='1'
RUN useradd --create-home app
USER app
WORKDIR /home/app/src
COPY requirements.txt .
RUN --mount=type=cache,target=/home/app/.cache/pip,uid=1000 pip install --user -r requirements.txt
COPY requirements-dev.txt .
# want: cache-mount
RUN pip install --user -r requirements-dev.txt
COPY . .
