# syntax=docker/dockerfile:1
FROM maven:3.9-eclipse-temurin-21 AS jar
WORKDIR /app
COPY pom.xml .
COPY src ./src
# Maven downloads what pom.xml names during the package, after src/ (all
# the sources) came in, and keeps nothing: every edit downloads them again.
# want: copy-before-deps
# want: cache-mount
RUN mvn -B package -DskipTests

FROM maven:3.9-eclipse-temurin-21 AS jar-offline
WORKDIR /app
COPY pom.xml .
RUN --mount=type=cache,target=/root/.m2 mvn -B dependency:go-offline
COPY src ./src
# Near miss: the dependencies were fetched before the sources came in.
RUN --mount=type=cache,target=/root/.m2 mvn -B -o package -DskipTests

FROM eclipse-temurin:21-jre
COPY --from=jar /app/target/app.jar /app.jar

FROM python:3.12-slim AS api
WORKDIR /app
RUN pip install --no-cache-dir poetry==1.8.3
COPY pyproject.toml poetry.lock ./
RUN --mount=type=cache,target=/root/.cache/pypoetry poetry install --no-root
COPY . .
# `poetry run` runs the install in the project's environment: a constant
# install after the source copy, whichever way it is run.
# want: install-after-copy
RUN poetry run pip install --no-cache-dir gunicorn==22.0.0
