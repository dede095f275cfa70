-- AlterTable
ALTER TABLE "access_requests" ADD COLUMN     "chain_started_at" TIMESTAMPTZ(3),
ADD COLUMN     "extends_grant_id" UUID;

-- CreateIndex
CREATE INDEX "access_requests_extends_grant_id_idx" ON "access_requests"("extends_grant_id");

