-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "agents" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "owner" TEXT,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "public_jwk" JSONB NOT NULL,
    "key_id" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "suspended_at" TIMESTAMPTZ(3),

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "slack_user_id" TEXT,
    "groups" TEXT[],
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "access_requests" (
    "id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "on_behalf_of" TEXT,
    "resource" TEXT NOT NULL,
    "actions" TEXT[],
    "columns" TEXT[],
    "duration_seconds" INTEGER NOT NULL,
    "reason" TEXT NOT NULL,
    "task" JSONB,
    "source_ip" TEXT,
    "status" TEXT NOT NULL,
    "decision" JSONB NOT NULL,
    "policy_version" TEXT NOT NULL,
    "risk_score" INTEGER NOT NULL,
    "approver_group" TEXT,
    "required_approvals" INTEGER NOT NULL DEFAULT 0,
    "approval_expires_at" TIMESTAMPTZ(3),
    "idempotency_key" TEXT,
    "body_hash" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "decided_by" TEXT,
    "decision_comment" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "access_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "approvals" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "approver" TEXT NOT NULL,
    "columns" TEXT[],
    "duration_seconds" INTEGER,
    "comment" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "approvals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "grants" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "agent_id" UUID NOT NULL,
    "subject" TEXT NOT NULL,
    "audience" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "actions" TEXT[],
    "columns" TEXT[],
    "purpose" TEXT NOT NULL,
    "kid" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "ended_at" TIMESTAMPTZ(3),
    "ended_by" TEXT,
    "end_reason" TEXT,

    CONSTRAINT "grants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "signing_keys" (
    "kid" TEXT NOT NULL,
    "alg" TEXT NOT NULL,
    "public_jwk" JSONB NOT NULL,
    "private_jwk" JSONB NOT NULL,
    "source" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "retired_at" TIMESTAMPTZ(3),

    CONSTRAINT "signing_keys_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "audit_events" (
    "id" BIGSERIAL NOT NULL,
    "xid" BIGINT NOT NULL DEFAULT ((pg_current_xact_id())::text)::bigint,
    "type" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "source_ip" TEXT,
    "request_id" UUID,
    "grant_id" UUID,
    "agent_id" UUID,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seq" BIGINT,
    "prev_hash" TEXT,
    "hash" TEXT,
    "sealed_at" TIMESTAMPTZ(3),

    CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_checkpoints" (
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "kid" TEXT NOT NULL,
    "signature" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_checkpoints_pkey" PRIMARY KEY ("seq")
);

-- CreateIndex
CREATE UNIQUE INDEX "agents_name_key" ON "agents"("name");

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE UNIQUE INDEX "users_slack_user_id_key" ON "users"("slack_user_id");

-- CreateIndex
CREATE INDEX "access_requests_status_created_at_idx" ON "access_requests"("status", "created_at");

-- CreateIndex
CREATE INDEX "access_requests_agent_id_created_at_idx" ON "access_requests"("agent_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "access_requests_agent_id_idempotency_key_key" ON "access_requests"("agent_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "approvals_request_id_approver_key" ON "approvals"("request_id", "approver");

-- CreateIndex
CREATE UNIQUE INDEX "grants_request_id_key" ON "grants"("request_id");

-- CreateIndex
CREATE INDEX "grants_status_expires_at_idx" ON "grants"("status", "expires_at");

-- CreateIndex
CREATE INDEX "grants_agent_id_status_idx" ON "grants"("agent_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_seq_key" ON "audit_events"("seq");

-- CreateIndex
CREATE INDEX "audit_events_request_id_idx" ON "audit_events"("request_id");

-- CreateIndex
CREATE INDEX "audit_events_agent_id_id_idx" ON "audit_events"("agent_id", "id");

-- AddForeignKey
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "grants" ADD CONSTRAINT "grants_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "access_requests"("id") ON DELETE RESTRICT ON UPDATE CASCADE;



-- The sealer reads only unsealed events, oldest transaction first, and a partial index keeps that
-- read independent of the size of the sealed trail. (The Prisma schema cannot express it.)
CREATE INDEX "audit_events_unsealed_idx" ON "audit_events"("xid", "id") WHERE "seq" IS NULL;
