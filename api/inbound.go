package api

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/incident-server/incident-server/internal/contract"
	"github.com/incident-server/incident-server/internal/fault"
	"github.com/incident-server/incident-server/internal/incident"
	"github.com/incident-server/incident-server/internal/notify"
	"github.com/incident-server/incident-server/internal/notify/ackcode"
	"github.com/incident-server/incident-server/internal/notify/slack"
	"github.com/incident-server/incident-server/internal/notify/twilio"
	"github.com/incident-server/incident-server/internal/oncall"
)

// inboundRoutes registers the routes that take answers to pages. None
// takes a bearer credential: each request proves itself by a signature
// (Twilio's, Slack's) or a signed link token, and acts for the user the
// page went to. Every action goes through the same workflow update as the
// REST acknowledge and resolve, with the channel recorded in the timeline,
// under an update ID derived from the request (the message, the call, the
// interaction, the link), so a repeated request gets the first answer.
func (s *Server) inboundRoutes(r *gin.Engine) {
	r.POST(notify.SMSPath, s.twilioSMS)
	r.POST(notify.KeypressPath, s.twilioKeypress)
	r.POST(notify.SlackPath, s.slackInteraction)
	r.GET(notify.AckPath+":token", s.ackLinkPage)
	r.POST(notify.AckPath+":token", s.ackLink)
}

// act acknowledges or resolves incidentID for user, from channel. key
// makes the update idempotent. It checks what the REST API checks of a
// responder: the role, and that the incident is the one named.
func (s *Server) act(ctx context.Context, user oncall.User, incidentID string, action ackcode.Action, channel, key string) (incident.Incident, error) {
	if user.Role != oncall.RoleResponder && user.Role != oncall.RoleAdmin {
		return incident.Incident{}, fault.New(fault.Forbidden, fmt.Sprintf("your role (%s) may not %s incidents", user.Role, action))
	}
	inc, err := s.lookup(ctx, incidentID)
	if err != nil {
		return incident.Incident{}, err
	}
	update := contract.UpdateAcknowledge
	if action == ackcode.Resolve {
		update = contract.UpdateResolve
	}
	req := contract.TransitionRequest{IncidentID: inc.ID, Actor: user.ID, Channel: channel}
	var out incident.Incident
	if err := s.engine.Command(ctx, inc, update, channel+"/"+key, req, &out); err != nil {
		return incident.Incident{}, err
	}
	return out, nil
}

// done says what an action did, for a reply: "Acknowledged inc_42
// (checkout: p99 above 2s)."
func done(action ackcode.Action, inc incident.Incident) string {
	verb := "Acknowledged"
	if action == ackcode.Resolve {
		verb = "Resolved"
	}
	return fmt.Sprintf("%s %s (%s: %s).", verb, inc.ID, inc.Service, notify.OneLine(inc.Title))
}

// refusal says why an action did not happen, for a reply: the error's
// public message, never an internal detail.
func refusal(err error) string {
	_, _, msg := answer(err)
	if fault.CodeOf(err) == fault.Internal {
		return "Something went wrong on our side; nothing was changed."
	}
	return "Nothing was changed: " + msg
}

// twilioForm reads and verifies a Twilio webhook: 404 when Twilio is not
// configured, 400 for a body that is not Twilio's form, 401 for a
// signature that does not verify against the public URL of the request or
// an account that is not ours. It answers the request itself and returns
// false when the form is not to be trusted.
func (s *Server) twilioForm(c *gin.Context) (map[string][]string, bool) {
	in := s.inbound
	if in.TwilioAuthToken == "" || in.Links == nil {
		s.abort(c, fault.New(fault.NotFound, "twilio is not configured on this server"))
		return nil, false
	}
	if c.GetHeader(twilio.SignatureHeader) == "" {
		s.abort(c, fault.New(fault.Unauthorized, "the request is not signed: "+twilio.SignatureHeader+" is missing"))
		return nil, false
	}
	form, err := twilio.ReadForm(c.Request)
	if err != nil {
		s.abort(c, fault.New(fault.Invalid, "not a twilio webhook form"))
		return nil, false
	}
	if !twilio.ValidateSignature(in.TwilioAuthToken, in.Links.URL(c.Request.URL.RequestURI()), form, c.GetHeader(twilio.SignatureHeader)) {
		s.abort(c, fault.New(fault.Unauthorized, "the "+twilio.SignatureHeader+" signature does not verify"))
		return nil, false
	}
	if sids := form["AccountSid"]; len(sids) != 1 || sids[0] != in.TwilioAccountSID {
		s.abort(c, fault.New(fault.Unauthorized, "the webhook is not from this server's twilio account"))
		return nil, false
	}
	return form, true
}

func twiml(c *gin.Context, body string) {
	c.Data(http.StatusOK, "text/xml; charset=utf-8", []byte(body))
}

// twilioSMS takes a reply to a page SMS: "4" or "ack K3M9" acknowledges,
// "6" or "resolve K3M9" resolves. The sender's number and the code find
// the page (store.PendingReplies); a reply without a code is for the
// number's only pending page. The answer is an SMS back to the sender.
func (s *Server) twilioSMS(c *gin.Context) {
	form, ok := s.twilioForm(c)
	if !ok {
		return
	}
	msg, err := twilio.ParseSMS(form)
	if err != nil {
		s.abort(c, fault.New(fault.Invalid, "not an inbound sms"))
		return
	}
	reply, err := ackcode.ParseReply(msg.Body)
	if err != nil {
		twiml(c, twilio.MessageTwiML(fmt.Sprintf("Reply %s and the page's code to acknowledge, %s and the code to resolve.",
			ackcode.AckDigit, ackcode.ResolveDigit)))
		return
	}
	ctx := c.Request.Context()
	pending, err := s.store.PendingReplies(ctx, msg.From, reply.Code)
	if err != nil {
		s.log.WarnContext(ctx, "find the page of an sms reply", "request_id", requestID(c), "error", err)
		twiml(c, twilio.MessageTwiML(refusal(err)))
		return
	}
	pages := map[[2]string]bool{}
	for _, p := range pending {
		pages[[2]string{p.IncidentID, p.UserID}] = true
	}
	switch {
	case len(pages) == 0:
		twiml(c, twilio.MessageTwiML("No page sent to this number is waiting for an answer."))
		return
	case len(pages) > 1 && reply.Code == "":
		twiml(c, twilio.MessageTwiML(fmt.Sprintf("Several pages are waiting: reply %s and the code of the one you mean, as the page says.", ackcode.AckDigit)))
		return
	case len(pages) > 1:
		twiml(c, twilio.MessageTwiML("That code matches more than one page: use the link in the email or the console."))
		return
	}
	twiml(c, twilio.MessageTwiML(s.actFor(c, pending[0].UserID, pending[0].IncidentID, reply.Action, contract.InboundSMS, msg.MessageSID)))
}

// actFor acts for the user userID and returns the reply that says what
// happened.
func (s *Server) actFor(c *gin.Context, userID, incidentID string, action ackcode.Action, channel, key string) string {
	ctx := c.Request.Context()
	user, err := s.store.GetUser(ctx, userID)
	if err == nil {
		var inc incident.Incident
		if inc, err = s.act(ctx, user, incidentID, action, channel, key); err == nil {
			return done(action, inc)
		}
	}
	if code := fault.CodeOf(err); code == fault.Internal || code == fault.Unavailable {
		s.log.ErrorContext(ctx, "act on an answer to a page", "request_id", requestID(c), "channel", channel,
			"incident_id", incidentID, "user_id", userID, "error", err)
	}
	return refusal(err)
}

// twilioKeypress takes the key pressed during a voice page: 4
// acknowledges, 6 resolves. The token in the URL names the incident and
// the user called; Twilio's signature covers it.
func (s *Server) twilioKeypress(c *gin.Context) {
	form, ok := s.twilioForm(c)
	if !ok {
		return
	}
	press, err := twilio.ParseKeypress(form)
	if err != nil {
		s.abort(c, fault.New(fault.Invalid, "not a keypress"))
		return
	}
	claims, err := s.inbound.Links.Verify(notify.PurposeKeypress, c.Query("token"), time.Now())
	if err != nil {
		twiml(c, twilio.SayTwiML("This page can no longer be answered by phone. Goodbye."))
		return
	}
	if press.Digits == "" {
		twiml(c, twilio.SayTwiML("No key was pressed. Goodbye."))
		return
	}
	reply, err := ackcode.ParseReply(press.Digits)
	if err != nil || reply.Code != "" {
		twiml(c, twilio.SayTwiML(fmt.Sprintf("Press %s to acknowledge or %s to resolve; nothing was changed. Goodbye.",
			ackcode.AckDigit, ackcode.ResolveDigit)))
		return
	}
	said := s.actFor(c, claims.UserID, claims.IncidentID, reply.Action, contract.InboundVoice, press.CallSID+"/"+press.Digits)
	twiml(c, twilio.SayTwiML(said+" Goodbye."))
}

// slackInteraction takes a press of a page's Acknowledge or Resolve
// button. A request whose signature does not verify, or is older than
// five minutes, is refused with 401 and changes nothing. The Slack member
// who pressed is mapped to one of our users (a slack contact method
// addressed to the member, else the member's email); an unknown member
// gets an ephemeral refusal, never an action. The outcome replaces the
// buttons (chat.update) or, for a refusal, is told the member alone.
func (s *Server) slackInteraction(c *gin.Context) {
	in := s.inbound
	if in.SlackSigningSecret == "" || in.Slack == nil {
		s.abort(c, fault.New(fault.NotFound, "slack is not configured on this server"))
		return
	}
	body, err := slack.ReadBody(c.Request)
	if err != nil {
		s.abort(c, fault.New(fault.Invalid, "not a slack interaction"))
		return
	}
	if err := slack.VerifyRequest(in.SlackSigningSecret, c.Request.Header, body, time.Now()); err != nil {
		s.abort(c, fault.New(fault.Unauthorized, err.Error()))
		return
	}
	ia, err := slack.ParseInteraction(body)
	if err != nil {
		s.abort(c, fault.New(fault.Invalid, "not a block_actions interaction"))
		return
	}
	action, incidentID, ok := ia.IncidentAction()
	if !ok {
		c.Status(http.StatusOK) // another app's button: not ours to answer
		return
	}
	ctx := c.Request.Context()
	user, err := s.slackUser(ctx, ia.User.ID)
	switch {
	case fault.Is(err, fault.NotFound):
		s.slackReply(c, ia, slack.NotLinkedText)
		return
	case err != nil:
		s.log.WarnContext(ctx, "map a slack member to a user", "request_id", requestID(c), "slack_user", ia.User.ID, "error", err)
		s.slackReply(c, ia, refusal(err))
		return
	}
	inc, err := s.act(ctx, user, incidentID, action, contract.InboundSlack, ia.TriggerID+"/"+ia.Container.MessageTS)
	if err != nil {
		if code := fault.CodeOf(err); code == fault.Internal || code == fault.Unavailable {
			s.log.ErrorContext(ctx, "act on a slack button", "request_id", requestID(c), "incident_id", incidentID, "error", err)
		}
		s.slackReply(c, ia, refusal(err))
		return
	}
	verb := "Acknowledged"
	if action == ackcode.Resolve {
		verb = "Resolved"
	}
	page := notify.Page{IncidentID: inc.ID, Title: inc.Title, Service: inc.Service, Severity: inc.Severity,
		IncidentURL: in.Links.Incident(inc.ID)}
	channel, ts := ia.Container.ChannelID, ia.Container.MessageTS
	if channel == "" {
		channel, ts = ia.Channel.ID, ia.Message.TS
	}
	if channel != "" && ts != "" {
		if err := in.Slack.UpdateMessage(ctx, channel, ts, slack.ActedMessage(page, verb+" by "+user.Name)); err != nil {
			// The action is done; only its display is stale.
			s.log.WarnContext(ctx, "update the slack page after an action", "request_id", requestID(c), "error", err)
		}
	}
	c.Status(http.StatusOK)
}

// slackUser maps a Slack member to one of our users: the user whose slack
// contact method is addressed to the member (an explicit link), else the
// user with the member's email. The error is a fault.NotFound when
// neither finds one.
func (s *Server) slackUser(ctx context.Context, memberID string) (oncall.User, error) {
	u, err := s.store.UserBySlackMember(ctx, memberID)
	if !fault.Is(err, fault.NotFound) {
		return u, err
	}
	member, err := s.inbound.Slack.UserInfo(ctx, memberID)
	if err != nil {
		if slack.ErrorCode(err) == "user_not_found" {
			return oncall.User{}, fault.Missing("user")
		}
		return oncall.User{}, fault.Down("slack", err)
	}
	if member.Deleted || member.IsBot || member.Profile.Email == "" {
		return oncall.User{}, fault.Missing("user")
	}
	return s.store.UserByEmail(ctx, member.Profile.Email)
}

// slackReply tells the member who pressed, alone, and answers Slack.
func (s *Server) slackReply(c *gin.Context, ia slack.Interaction, text string) {
	if ia.ResponseURL != "" {
		if err := s.inbound.Slack.Respond(c.Request.Context(), ia.ResponseURL, slack.Ephemeral(text)); err != nil {
			s.log.WarnContext(c.Request.Context(), "answer a slack interaction", "request_id", requestID(c), "error", err)
		}
	}
	c.Status(http.StatusOK)
}

// ackPage is the page an acknowledge link shows.
var ackPage = template.Must(template.New("ack").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{{.Heading}}</title></head>
<body><h1>{{.Heading}}</h1>
{{if .Incident}}<p><b>{{.Incident.ID}}</b> &middot; {{.Incident.Service}} &middot; {{.Incident.Severity}}<br>{{.Incident.Title}}</p>
<p>Status: {{.Incident.Status}}</p>{{end}}
{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Form}}<form method="post" action="{{.Action}}"><button type="submit">Acknowledge</button></form>{{end}}
</body></html>
`))

type ackView struct {
	Heading  string
	Text     string
	Incident *incident.Incident
	Form     bool
	Action   string
}

func (s *Server) ackHTML(c *gin.Context, status int, v ackView) {
	var b strings.Builder
	if err := ackPage.Execute(&b, v); err != nil {
		s.log.ErrorContext(c.Request.Context(), "render the acknowledge page", "request_id", requestID(c), "error", err)
		c.Status(http.StatusInternalServerError)
		return
	}
	// The page is read by a browser: it may not be framed, and it loads
	// nothing; its one form posts back to the link.
	c.Header("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Data(status, "text/html; charset=utf-8", []byte(b.String()))
}

// ackToken verifies an acknowledge link's token, answering the request
// itself (401 for a token that is not ours, 410 for an expired one) when
// it does not.
func (s *Server) ackToken(c *gin.Context) (ackcode.Claims, bool) {
	claims, err := s.inbound.Links.Verify(notify.PurposeAck, c.Param("token"), time.Now())
	switch {
	case err == nil:
		return claims, true
	case errors.Is(err, ackcode.ErrExpired):
		s.ackHTML(c, http.StatusGone, ackView{Heading: "This link has expired",
			Text: "Acknowledge the incident from the console or the API."})
	default:
		s.ackHTML(c, http.StatusUnauthorized, ackView{Heading: "This link is not valid",
			Text: "It was altered, cut short, or not made by this server."})
	}
	return ackcode.Claims{}, false
}

// ackLinkPage shows what an acknowledge link is about and a button that
// acknowledges. A GET changes nothing: mail scanners and link previews
// follow links.
func (s *Server) ackLinkPage(c *gin.Context) {
	claims, ok := s.ackToken(c)
	if !ok {
		return
	}
	inc, err := s.lookup(c.Request.Context(), claims.IncidentID)
	if err != nil {
		_, status, msg := answer(err)
		s.ackHTML(c, status, ackView{Heading: "The incident cannot be shown", Text: msg})
		return
	}
	// The form posts to the link itself, named relative to it so that a
	// proxy's path prefix stays in front.
	v := ackView{Heading: "Acknowledge this incident?", Incident: &inc, Form: true, Action: c.Param("token")}
	if inc.Status != incident.StatusOpen {
		v.Heading, v.Form = "Nothing to acknowledge", false
		v.Text = "The incident is " + string(inc.Status) + " already."
	}
	s.ackHTML(c, http.StatusOK, v)
}

// ackLink acknowledges the incident a link names, for the user it was sent
// to. A link works once: its nonce is marked used first, and released
// again only when the engine could not take the acknowledgement (so the
// link may be tried again).
func (s *Server) ackLink(c *gin.Context) {
	claims, ok := s.ackToken(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	fresh, err := s.store.UseAckNonce(ctx, claims.Nonce, claims.IncidentID, claims.UserID)
	if err != nil {
		_, status, msg := answer(err)
		s.ackHTML(c, status, ackView{Heading: "Nothing was changed", Text: msg})
		return
	}
	if !fresh {
		s.ackHTML(c, http.StatusGone, ackView{Heading: "This link was used already",
			Text: "Each acknowledge link works once."})
		return
	}
	user, err := s.store.GetUser(ctx, claims.UserID)
	var inc incident.Incident
	if err == nil {
		inc, err = s.act(ctx, user, claims.IncidentID, ackcode.Acknowledge, contract.InboundLink, claims.Nonce)
	}
	if err != nil {
		code, status, _ := answer(err)
		if code == fault.Unavailable || code == fault.Internal {
			s.log.ErrorContext(ctx, "acknowledge by link", "request_id", requestID(c), "incident_id", claims.IncidentID, "error", err)
			if rerr := s.store.ReleaseAckNonce(context.WithoutCancel(ctx), claims.Nonce); rerr != nil {
				s.log.ErrorContext(ctx, "release an acknowledge link", "request_id", requestID(c), "error", rerr)
			}
		}
		s.ackHTML(c, status, ackView{Heading: "Nothing was changed", Text: strings.TrimPrefix(refusal(err), "Nothing was changed: ")})
		return
	}
	s.ackHTML(c, http.StatusOK, ackView{Heading: "Acknowledged", Incident: &inc, Text: done(ackcode.Acknowledge, inc)})
}
