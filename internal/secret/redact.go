package secret

import "net/url"

// Redact returns a URL fit to show where the whole would reveal a secret:
// its scheme and host (port included), and "/…" when anything followed
// them, e.g. "https://hooks.slack.com/…". User information, path, query
// and fragment are dropped, since any of them may hold the credential (a
// Slack or Teams webhook's path, a "?token=" query). A value that is not an
// absolute URL with a host is shown as "…".
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "…"
	}
	shown := u.Scheme + "://" + u.Host
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return shown + "/…"
	}
	return shown
}
