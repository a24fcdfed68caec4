# One image for every role: worker, serve, simulate, import. TypeScript runs through tsx, so there is no build step.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY jobs ./jobs
USER node
ENTRYPOINT ["node", "src/cli/bin.mjs"]
CMD ["--help"]
