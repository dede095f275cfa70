-- AlterTable
ALTER TABLE "access_requests" ADD COLUMN     "escalate_at" TIMESTAMPTZ(3),
ADD COLUMN     "escalate_to" TEXT,
ADD COLUMN     "escalated_at" TIMESTAMPTZ(3),
ADD COLUMN     "remind_at" TIMESTAMPTZ(3),
ADD COLUMN     "slack_channel" TEXT,
ADD COLUMN     "slack_dm_channel" TEXT,
ADD COLUMN     "slack_dm_ts" TEXT,
ADD COLUMN     "slack_ts" TEXT;

