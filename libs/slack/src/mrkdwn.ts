/**
 * Text from agents and people made inert in Slack mrkdwn: `&`, `<` and `>` escaped as Slack asks, so
 * `<!channel>`, `<@U123>` and `<https://evil|bank>` show as typed instead of pinging or linking.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
