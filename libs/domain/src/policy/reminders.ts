/** When a pending request reminds its approvers and when it escalates. */
export interface ReminderTimes {
  remindAfterSeconds: number;
  escalateAfterSeconds: number;
}

/** Without settings of their own, pending requests remind after 5 minutes and escalate after 10. */
export const DEFAULT_REMINDER_TIMES: ReminderTimes = { remindAfterSeconds: 300, escalateAfterSeconds: 600 };

/**
 * The reminder and escalation times a request gets when nothing sets them: at most `ceiling` (the
 * policy's defaults), and within a short approval timeout at a third and two thirds of it, so that
 * both still happen before the request times out.
 */
export function reminderTimes(approvalTimeoutSeconds: number, ceiling: ReminderTimes = DEFAULT_REMINDER_TIMES): ReminderTimes {
  return {
    remindAfterSeconds: Math.max(1, Math.min(ceiling.remindAfterSeconds, Math.floor(approvalTimeoutSeconds / 3))),
    escalateAfterSeconds: Math.max(1, Math.min(ceiling.escalateAfterSeconds, Math.floor((approvalTimeoutSeconds * 2) / 3))),
  };
}
