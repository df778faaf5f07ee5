# syntax=docker/dockerfile:1
# The BoltLink backend under pm2-runtime. Build it with `make image`, which
# passes WORKERS (the PM2 worker count, common/sizing.ts) and the app user,
# port and paths (common/contract.ts) through infra/build-args.ts; nothing here
# re-types a sizing number.
# Pin the base by digest in CI: --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:…
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM deps AS build
# One COPY (what .dockerignore lets through) and one RUN: fewer layers build
# much faster on copy-based storage drivers. /out is exactly what runs.
COPY . .
RUN npm run build \
 && mkdir -p /out/service \
 && cp -r dist package.json /out/ \
 && cp -r service/ecosystem.config.js service/bin /out/service/

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional as well: the Prisma CLI, Studio and TypeScript arrive as optional
# peers of @prisma/client (~240 MB) and are never loaded at run time.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG WORKERS
ARG SIZING_ENV=prod
ARG APP_UID
ARG APP_GID
ARG APP_PORT
ARG SCRATCH_DIR
ARG PM2_HOME
ARG VERSION=dev
RUN test -n "$WORKERS" && test -n "$APP_UID" && test -n "$APP_GID" && test -n "$APP_PORT" && test -n "$SCRATCH_DIR" && test -n "$PM2_HOME" \
      || { echo "build with 'make image' (WORKERS, APP_UID, APP_GID, APP_PORT, SCRATCH_DIR and PM2_HOME come from infra/)" >&2; exit 1; } \
 && groupadd --gid "$APP_GID" app \
 && useradd --uid "$APP_UID" --gid "$APP_GID" --no-create-home --home-dir "$SCRATCH_DIR" --shell /usr/sbin/nologin app
WORKDIR /app
# PM2_HOME and HOME in the scratch dir: the root filesystem is read-only in the
# cluster, the scratch dir is an emptyDir. PM2_INSTANCES is what ecosystem.config.js starts.
ENV NODE_ENV=production \
    HOME=${SCRATCH_DIR} \
    PM2_HOME=${PM2_HOME} \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    PM2_INSTANCES=${WORKERS} \
    BOLTLINK_SIZING=${SIZING_ENV}
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /out ./
LABEL org.opencontainers.image.title="boltlink-backend" \
      org.opencontainers.image.description="BoltLink backend under PM2 cluster mode" \
      org.opencontainers.image.version="${VERSION}" \
      boltlink.workers="${WORKERS}" \
      boltlink.sizing="${SIZING_ENV}"
USER ${APP_UID}:${APP_GID}
EXPOSE ${APP_PORT}
ENTRYPOINT ["node_modules/.bin/pm2-runtime", "service/ecosystem.config.js"]
