-- CreateIndex
CREATE INDEX "grants_agent_id_issued_at_idx" ON "grants"("agent_id", "issued_at");
