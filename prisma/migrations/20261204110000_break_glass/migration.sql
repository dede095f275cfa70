-- Break-glass: the request says it broke glass, the review a person closes afterwards, and when its alert went out.
-- AlterTable
ALTER TABLE "access_requests" ADD COLUMN     "alerted_at" TIMESTAMPTZ(3),
ADD COLUMN     "break_glass" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "review" TEXT,
ADD COLUMN     "review_comment" TEXT,
ADD COLUMN     "reviewed_at" TIMESTAMPTZ(3),
ADD COLUMN     "reviewed_by" TEXT;

-- CreateIndex
CREATE INDEX "access_requests_review_created_at_id_idx" ON "access_requests"("review", "created_at", "id");

