# syntax=docker/dockerfile:1
# A user made in the file, with no ENV HOME: its home is where useradd
# put it, so the pip cache it needs is known. A user from the base image
# has a home the file does not say: no finding there.
FROM python:3.12-slim
RUN useradd --create-home --uid 1001 --shell /bin/bash builder
USER builder
WORKDIR /home/builder/app
COPY requirements.txt .
# want: cache-mount
RUN pip install --user -r requirements.txt

FROM python:3.12-slim AS other
USER nobody
COPY requirements.txt /tmp/
RUN pip install --user -r /tmp/requirements.txt
