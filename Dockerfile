# oidc-connect as a container: the app (`serve`) on Node 24, as a non-root user.
# Untested: Docker cannot run where this project is built. The steps are the ones the README's
# Deployment section runs by hand (see "Docker" there), and those were run on Node 24 against PostgreSQL.
#
#   docker build -t oidc-connect .
#   docker run --rm -p 8080:8080 --env-file .env.production oidc-connect

# --- build: TypeScript → dist/, with the dev dependencies (TypeScript), which stay in this stage
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled code only
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# pg is an optional peer (a devDependency here, for the tests), so `npm ci --omit=dev` leaves it out;
# --save-prod installs it anyway and --no-save leaves package.json and the lockfile as they are.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --save-prod --omit=dev --no-audit --no-fund "pg@$(node -p "require('./package.json').devDependencies.pg")" \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# DATA_DIR (./data) and a default SQLite database live here; mount a volume to keep them.
RUN mkdir -p data && chown node:node data
USER node
EXPOSE 8080
# Node's own fetch: the slim image has no curl. 127.0.0.1 reaches HOST=0.0.0.0.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# What `npm start` runs, compiled (bin/oidc-connect.js runs src/ in a checkout): node itself is PID 1,
# with no npm in between, so `docker stop`'s SIGTERM reaches the app's graceful shutdown.
CMD ["node", "dist/cli/main.js", "serve"]
