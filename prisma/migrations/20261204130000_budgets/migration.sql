-- Budgets: a grant keeps the rating of its request, so an agent's granted time per day at or above
-- a rating is read through an index, without joining requests or reading grants of other ratings.
ALTER TABLE "grants" ADD COLUMN "sensitivity" TEXT;

UPDATE "grants" AS g SET "sensitivity" = r."decision"->>'sensitivity' FROM "access_requests" AS r WHERE r."id" = g."request_id";

-- CreateIndex
CREATE INDEX "grants_agent_id_sensitivity_issued_at_idx" ON "grants"("agent_id", "sensitivity", "issued_at");
