# The pg2ch CLI and worker. npm install builds dist/ (the compiled CLI and the
# workflow bundle, its prepare script), so the worker starts without webpack
# or TypeScript; the sources come first for that.
FROM node:20-bookworm-slim
WORKDIR /app
COPY . .
RUN npm install --omit=dev --no-audit --no-fund
ENV NODE_ENV=production
ENTRYPOINT ["node", "bin/pg2ch.cjs"]
CMD ["worker"]
