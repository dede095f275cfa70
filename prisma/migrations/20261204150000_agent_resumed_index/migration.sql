-- Suspension counts start at the agent's last resume: found through this index, not by reading its whole trail
CREATE INDEX "audit_events_agent_resumed_idx" ON "audit_events"("agent_id", "created_at") WHERE "type" = 'agent.resumed';
