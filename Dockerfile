# syntax=docker/dockerfile:1
# Build: `npm ci` installs and, through `prepare`, compiles the service to dist/
# and the web panel; then the dev dependencies are dropped.
FROM node:26-slim AS build
WORKDIR /app
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

# Run: compiled JavaScript and production dependencies only, as the unprivileged `node` user.
FROM node:26-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
# V8's code cache on disk: a restart compiles nothing it compiled before (faster start).
ENV NODE_COMPILE_CACHE=/tmp/node-compile-cache
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/server/main.js"]
