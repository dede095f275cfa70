/**
 * Makes text inert in Slack mrkdwn. Slack's formatting guide names exactly three characters to
 * escape, `&`, `<` and `>`, because `<...>` is its control sequence: with them escaped, text an
 * agent or a person wrote cannot ping a channel (`<!channel>`, `<!here>`), mention someone
 * (`<@U123>`) or disguise a link (`<https://evil.example|bank.example>`); it shows as typed.
 * Only for mrkdwn: plain_text fields show entities literally and need no escaping.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
