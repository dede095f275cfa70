-- CreateTable
CREATE TABLE "agent_baselines" (
    "agent_id" UUID NOT NULL,
    "shard" SMALLINT NOT NULL,
    "counts" JSONB NOT NULL DEFAULT '{}',
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agent_baselines_pkey" PRIMARY KEY ("agent_id","shard")
);

-- AddForeignKey
ALTER TABLE "agent_baselines" ADD CONSTRAINT "agent_baselines_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- The anomalies feed (GET /v1/admin/anomalies): only anomalous decisions, newest first. Prisma
-- cannot declare a partial index, and queries repeat this predicate exactly.
CREATE INDEX "access_requests_anomalous_idx" ON "access_requests" ("created_at" DESC, "id" DESC) WHERE ("decision" -> 'anomalies') <> '[]'::jsonb;
