-- HTTP resources: requests, approvals and grants name operations where data resources name columns.
ALTER TABLE "access_requests" ADD COLUMN "operations" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "approvals" ADD COLUMN "operations" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "grants" ADD COLUMN "operations" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- Forward-auth replicas poll for grants ended early (released, revoked) since their last look.
CREATE INDEX "grants_ended_at_idx" ON "grants"("ended_at");

-- What each grant was used for at the gateways, per operation (flushed in batches, never per call).
CREATE TABLE "grant_usage" (
    "grant_id" UUID NOT NULL,
    "operation" TEXT NOT NULL,
    "calls" BIGINT NOT NULL,
    "first_at" TIMESTAMPTZ(3) NOT NULL,
    "last_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "grant_usage_pkey" PRIMARY KEY ("grant_id","operation")
);
