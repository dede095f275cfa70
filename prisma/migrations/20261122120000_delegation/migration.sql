-- CreateTable
CREATE TABLE "delegations" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "user_id" TEXT NOT NULL,
    "resources" TEXT[],
    "expires_at" TIMESTAMPTZ(3),
    "source" TEXT NOT NULL,
    "created_by" TEXT NOT NULL,
    "request_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ended_at" TIMESTAMPTZ(3),
    "ended_by" TEXT,

    CONSTRAINT "delegations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "delegations_agent_id_user_id_idx" ON "delegations"("agent_id", "user_id");

-- CreateTable
CREATE TABLE "slack_messages" (
    "request_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "ts" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "slack_messages_pkey" PRIMARY KEY ("request_id","kind")
);

-- Move the Slack coordinates out of access_requests
INSERT INTO "slack_messages" ("request_id", "kind", "channel", "ts")
SELECT "id", 'approvals', "slack_channel", "slack_ts" FROM "access_requests" WHERE "slack_ts" IS NOT NULL AND "slack_channel" IS NOT NULL;

INSERT INTO "slack_messages" ("request_id", "kind", "channel", "ts")
SELECT "id", 'requester', "slack_dm_channel", "slack_dm_ts" FROM "access_requests" WHERE "slack_dm_ts" IS NOT NULL AND "slack_dm_channel" IS NOT NULL;

-- AlterTable
ALTER TABLE "access_requests" DROP COLUMN "slack_channel",
DROP COLUMN "slack_dm_channel",
DROP COLUMN "slack_dm_ts",
DROP COLUMN "slack_ts",
ADD COLUMN     "consent" TEXT,
ADD COLUMN     "delegation_id" UUID;
