# The pg2ch CLI and worker. Workflow code is bundled at build time so the
# worker starts without webpack.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund
COPY . .
RUN node node_modules/tsx/dist/cli.mjs scripts/build-bundle.ts /app/workflow-bundle.js
ENV PG2CH_WORKFLOW_BUNDLE=/app/workflow-bundle.js NODE_ENV=production
ENTRYPOINT ["node", "bin/pg2ch.cjs"]
CMD ["worker"]
