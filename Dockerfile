# Image for the mlops worker and API (the compose file picks the subcommand).
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, so the layer is cached until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci

COPY . .

ENV NODE_ENV=production

CMD ["npx", "tsx", "client/main.ts", "--help"]
