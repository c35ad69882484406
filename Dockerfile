# syntax=docker/dockerfile:1
# One image for all four services; APP picks which one runs (karma, bucket, core, workflow-executor).
#   docker build -t pancha .
#   docker run -e APP=bucket -p 8001:8001 pancha
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first so the dependency layer is cached until package.json or the lockfile changes.
# `npm install` with the committed lockfile, not `npm ci`: `npm ci` fails against our registry.
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    APP=karma \
    PANCHA_KEYS_DIR=/keys
WORKDIR /app
# Code stays root-owned and read-only for the `node` user the services run as.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
# /keys is owned by `node` so a fresh named volume mounted there (compose `keys` volume) inherits that owner
# and the one-shot key generator, also running as `node`, can write into it.
RUN mkdir -p /keys && chown node:node /keys
USER node
EXPOSE 8000 8001 8002 8003
# OpenTelemetry must load before Nest is imported, hence --require of the trace-context register entry.
# `exec` makes node PID 1 so SIGTERM from docker/kubelet reaches Nest's shutdown hooks.
CMD ["sh", "-c", "exec node --require ./dist/libs/trace-context/src/register.js \"dist/apps/${APP}/src/main.js\""]
