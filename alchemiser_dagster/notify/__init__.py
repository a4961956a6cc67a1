"""The edge to the operator: email over SMTP and a Slack-compatible webhook."""
