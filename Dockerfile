# One image for both processes: `npm run start:api`-style commands pick the part to run.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts tsconfig.json nest-cli.json ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm install --no-audit --no-fund
COPY apps ./apps
COPY libs ./libs
COPY policies ./policies
RUN npm run build
ENV NODE_ENV=production
EXPOSE 3000
CMD ["sh", "-c", "node scripts/migrate.js && node dist/apps/gatehouse/apps/gatehouse/src/main.js"]
