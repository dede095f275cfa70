-- DropIndex
DROP INDEX "access_requests_status_created_at_idx";
-- CreateIndex
CREATE INDEX "access_requests_status_created_at_id_idx" ON "access_requests"("status", "created_at", "id");
