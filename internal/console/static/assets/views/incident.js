// The incident page: what it is, where its SLA and escalation stand, who
// was paged on which channel with what outcome, its alerts and timeline,
// and the actions a responder takes. Everything updates live.
//
// Runbooks go here later: a section like `alerts` below (created next to
// it, added to the grid between alerts and timeline), rendered from
// state.live.runbooks by a renderRunbooks() modelled on renderAlerts and
// called where renderEscalation is (the live state is read again after
// every refreshOn event: add the runbook event types there). Its step
// buttons (complete, skip, approve) post through act(), as the actions do,
// and are built only when ctx.can(<the route's role>).

import { get, post, query } from '../api.js';
import { h, replace, time, badge, countdown, field, select, message } from '../dom.js';
import { Feed } from '../live.js';

// Timeline event types after which the escalation state and the delivery
// ledger are read again.
const refreshOn = new Set(['notified', 'notify_failed', 'escalated', 'reassigned', 'snoozed', 'snooze_ended',
  'ack_timeout', 'escalation_exhausted', 'escalation_policy', 'sla_warning', 'sla_breached',
  'acknowledged', 'mitigated', 'resolved', 'opened']);

const eventLabels = {
  opened: 'Opened', acknowledged: 'Acknowledged', mitigated: 'Mitigated', resolved: 'Resolved',
  duplicate: 'Duplicate alert', note: 'Note', escalation_policy: 'Escalation policy', notified: 'Paged',
  notify_failed: 'Page failed', escalated: 'Escalated', snoozed: 'Snoozed', snooze_ended: 'Snooze ended',
  reassigned: 'Reassigned', ack_timeout: 'Acknowledgement lapsed', escalation_exhausted: 'Escalation exhausted',
  sla_warning: 'SLA at risk', sla_breached: 'SLA breached', alert: 'Alert', alert_resolved: 'Alert resolved',
  workflow_missing: 'Workflow missing',
};

export function incidentView(main, ctx, id) {
  const path = '/incidents/' + encodeURIComponent(id);
  const state = { inc: null, live: null, events: new Map(), alerts: [], deliveries: [], users: new Map(), policies: [] };
  let watermark = 0;

  const title = h('h1', { id: 'title', text: id });
  const facts = h('dl', { class: 'facts', id: 'facts' });
  const actions = h('section', { class: 'panel actions', id: 'actions', 'aria-labelledby': 'actions-h', hidden: true });
  const sla = h('section', { class: 'panel', id: 'sla', 'aria-labelledby': 'sla-h' });
  const esc = h('section', { class: 'panel', id: 'escalation', 'aria-labelledby': 'esc-h' });
  const alerts = h('section', { class: 'panel', id: 'alerts', 'aria-labelledby': 'alerts-h' });
  const timeline = h('section', { class: 'panel wide', id: 'timeline-panel', 'aria-labelledby': 'timeline-h' });
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/console/incidents', text: 'Incidents' }), ' › ', h('span', { text: id })),
    title, facts, status, actions,
    h('div', { class: 'grid' }, sla, esc, alerts, /* runbooks, */ timeline));

  // ---- rendering ----

  function renderFacts() {
    const inc = state.inc;
    document.title = `${inc.title} · incident-server`;
    replace(title, inc.title);
    const ui = ctx.session.console.temporal_ui_url;
    const items = [
      ['Status', badge('status', inc.status, 'status')],
      ['Severity', badge('sev', inc.severity, 'severity')],
      ['Service', h('a', { href: '/console/incidents' + query({ service: inc.service }), text: inc.service })],
      ['Opened', time(inc.created_at)],
    ];
    if (inc.acknowledged_by) items.push(['Acknowledged', h('span', {}, time(inc.acknowledged_at), ' by ', inc.acknowledged_by)]);
    if (inc.mitigated_at) items.push(['Mitigated', time(inc.mitigated_at)]);
    if (inc.resolved_at) items.push(['Resolved', h('span', {}, time(inc.resolved_at), inc.resolved_by ? ' by ' + inc.resolved_by : '')]);
    items.push(['Workflow', ui
      ? h('a', { href: `${ui}/namespaces/${encodeURIComponent(ctx.session.console.namespace)}/workflows/${encodeURIComponent(inc.workflow_id)}`, target: '_blank', rel: 'noopener', text: inc.workflow_id + ' (Temporal Web UI)' })
      : h('code', { text: inc.workflow_id })]);
    if (inc.description) items.push(['Description', h('span', { class: 'pre', text: inc.description })]);
    replace(facts, items.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', {}, v))));
    renderActions();
  }

  function deadline(kind, label) {
    const inc = state.inc;
    const d = state.live && state.live.sla ? state.live.sla[kind] : null;
    const due = d ? d.due_at : inc[kind + '_due_at'];
    if (!due) return h('div', { class: 'sla-row', id: 'sla-' + kind }, h('span', { class: 'label', text: label }), h('span', { class: 'muted', text: 'not tracked' }));
    let st = d ? d.status : '';
    if (!st) {
      const metAt = kind === 'response' ? (inc.acknowledged_at || inc.mitigated_at || inc.resolved_at) : inc.resolved_at;
      if (metAt) st = Date.parse(metAt) <= Date.parse(due) ? 'met' : 'breached';
      else st = Date.now() > Date.parse(due) ? 'breached' : 'pending';
    }
    const open = st === 'pending' || st === 'at_risk';
    return h('div', { class: 'sla-row', id: 'sla-' + kind },
      h('span', { class: 'label', text: label }), badge('sla', st, 'sla-' + kind + '-status'),
      h('span', {}, 'due ', time(due)),
      open ? countdown(due, 'overdue') : (d && d.met_at ? h('span', {}, 'met ', time(d.met_at)) : null));
  }

  function renderSLA() {
    replace(sla, h('h2', { id: 'sla-h', text: 'SLA' }), deadline('response', 'Response'), deadline('resolution', 'Resolution'));
  }

  function userName(uid) {
    const u = state.users.get(uid);
    return u ? u.name : uid;
  }

  function renderEscalation() {
    const e = state.live && state.live.escalation;
    const parts = [h('h2', { id: 'esc-h', text: 'Escalation' })];
    if (!e) {
      parts.push(h('p', { class: 'muted', text: state.inc.status === 'resolved' ? 'Paging ended when the incident resolved.' : 'No escalation state (no policy, or the workflow cannot be reached).' }));
    } else if (e.policy && e.policy.maintenance) {
      parts.push(h('p', {}, 'Paging nobody: opened during maintenance (', e.policy.maintenance, ').'));
    } else {
      const steps = (e.policy && e.policy.steps) || [];
      const rows = [
        ['Policy', e.policy && e.policy.name ? `${e.policy.name} (version ${e.policy.version})` : 'none'],
        ['Step', e.step < 0 ? 'not paged yet' : `${e.step + 1} of ${steps.length}, round ${e.round + 1} of ${(e.policy.repeat || 0) + 1}`],
      ];
      if (e.next_page_at && !e.exhausted) rows.push(['Next page', h('span', { id: 'next-page' }, time(e.next_page_at), ' ', countdown(e.next_page_at))]);
      if (e.snoozed_until && Date.parse(e.snoozed_until) > Date.now()) rows.push(['Snoozed until', h('span', {}, time(e.snoozed_until), ' ', countdown(e.snoozed_until))]);
      if (e.ack_expires_at) rows.push(['Acknowledgement lapses', h('span', {}, time(e.ack_expires_at), ' ', countdown(e.ack_expires_at))]);
      if (e.exhausted) rows.push(['State', 'every step of every round was paged']);
      parts.push(h('dl', { class: 'kv' }, rows.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', {}, v)))));
    }
    parts.push(h('h3', { text: 'Pages sent' }));
    if (state.deliveries.length === 0) {
      parts.push(h('p', { class: 'muted', id: 'no-deliveries', text: 'Nobody has been paged.' }));
    } else {
      parts.push(h('table', { class: 'compact', id: 'deliveries' },
        h('thead', {}, h('tr', {}, ['When', 'Who', 'Step', 'Channel', 'Outcome'].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, state.deliveries.map((d) => h('tr', { 'data-status': d.status },
          h('td', { 'data-label': 'When' }, time(d.updated_at, true)),
          h('td', { 'data-label': 'Who', text: userName(d.user_id) }),
          h('td', { 'data-label': 'Step', text: `${d.step}${d.round ? ' (round ' + (d.round + 1) + ')' : ''}` }),
          h('td', { 'data-label': 'Channel', class: 'channel', text: d.channel }),
          h('td', { 'data-label': 'Outcome' }, badge('delivery', d.status), d.detail ? h('small', { class: 'detail', text: ' ' + d.detail }) : null,
            d.attempts > 1 ? h('small', { class: 'muted', text: ` (${d.attempts} attempts)` }) : null))))));
    }
    replace(esc, ...parts);
  }

  function renderAlerts() {
    const parts = [h('h2', { id: 'alerts-h', text: 'Alerts' })];
    if (state.alerts.length === 0) parts.push(h('p', { class: 'muted', text: 'No alerts: opened through the API.' }));
    else parts.push(h('table', { class: 'compact' },
      h('thead', {}, h('tr', {}, ['Fingerprint', 'Title', 'Status', 'Count', 'Last seen'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, state.alerts.map((a) => h('tr', {},
        h('td', { 'data-label': 'Fingerprint' }, h('code', { text: a.fingerprint })),
        h('td', { 'data-label': 'Title', text: a.title }),
        h('td', { 'data-label': 'Status' }, badge('alert', a.status)),
        h('td', { 'data-label': 'Count', text: a.count }),
        h('td', { 'data-label': 'Last seen' }, time(a.last_seen, true)))))));
    replace(alerts, ...parts);
  }

  function renderTimeline() {
    const events = [...state.events.values()].sort((a, b) =>
      Date.parse(a.event_time) - Date.parse(b.event_time) || a.seq - b.seq);
    replace(timeline, h('h2', { id: 'timeline-h', text: 'Timeline' }),
      h('ol', { class: 'timeline', id: 'timeline' }, events.map((ev) => h('li', { 'data-type': ev.type, 'data-id': ev.id },
        time(ev.event_time, true), ' ',
        h('strong', { class: 'etype', text: eventLabels[ev.type] || ev.type }),
        ev.actor ? h('span', { class: 'actor', text: ' · ' + ev.actor }) : null,
        ev.message ? h('p', { class: 'msg', text: ev.message }) : null))));
  }

  // ---- actions ----

  const actionStatus = h('p', { class: 'form-status', role: 'alert', hidden: true });
  const buttons = {};

  async function act(button, action, body) {
    message(actionStatus, '');
    button.disabled = true;
    try {
      const res = await post(path + '/' + action, body);
      if (res && res.type && res.event_time) {
        addEvents([res]); // a note
      } else if (res && res.status) {
        if (res.live) state.live = res.live;
        merge(stripLive(res));
        renderEscalation();
      }
      refreshLive();
      return true;
    } catch (e) {
      message(actionStatus, e.message, true);
      return false;
    } finally {
      renderActions();
    }
  }

  function buildActions() {
    if (!ctx.can('responder')) return;
    const mk = (id, label, cls, onclick) => (buttons[id] = h('button', { type: 'button', id, class: cls || '', text: label, onclick }));
    const snoozeFor = select({ name: 'snooze-for', 'aria-label': 'Snooze for' }, [['15m', '15 minutes'], ['30m', '30 minutes'], ['1h', '1 hour'], ['2h', '2 hours'], ['4h', '4 hours']], '30m');
    const policy = select({ id: 'reassign-to' }, [['', 'Choose a policy or a user…']]);
    const note = h('textarea', { id: 'note', rows: 2, maxlength: 4096 });
    actions.append(
      h('h2', { id: 'actions-h', class: 'visually-hidden', text: 'Actions' }),
      h('div', { class: 'buttons' },
        mk('ack', 'Acknowledge', 'primary', (e) => act(e.currentTarget, 'acknowledge', {})),
        mk('mitigate', 'Mitigate', '', (e) => act(e.currentTarget, 'mitigate', {})),
        mk('resolve', 'Resolve', '', (e) => act(e.currentTarget, 'resolve', {})),
        mk('escalate', 'Escalate now', '', (e) => act(e.currentTarget, 'escalate', {}))),
      h('div', { class: 'inline' }, field('Snooze paging for', snoozeFor),
        mk('snooze', 'Snooze', '', (e) => act(e.currentTarget, 'snooze', { duration: snoozeFor.value }))),
      h('div', { class: 'inline' }, field('Reassign to', policy),
        mk('reassign', 'Reassign', '', (e) => {
          const [kind, value] = policy.value.split(':');
          if (!value) { message(actionStatus, 'Choose a policy or a user to reassign to.', true); return; }
          act(e.currentTarget, 'reassign', kind === 'policy' ? { policy_id: value } : { user_ids: [value] });
        })),
      h('form', { class: 'note-form', onsubmit: async (e) => {
        e.preventDefault();
        if (!note.value.trim()) { message(actionStatus, 'Write a note first.', true); note.focus(); return; }
        if (await act(buttons['add-note'], 'notes', { note: note.value })) note.value = '';
      } }, field('Note', note), mk('add-note', 'Add note', '')),
      actionStatus);
    buttons['add-note'].type = 'submit';
    // The reassignment targets load in the background.
    Promise.all([get('/escalation-policies').catch(() => ({ escalation_policies: [] })), usersLoaded]).then(([p]) => {
      const opts = [['', 'Choose a policy or a user…']];
      for (const pol of p.escalation_policies || []) opts.push(['policy:' + pol.id, 'Policy: ' + pol.name]);
      for (const u of state.users.values()) opts.push(['user:' + u.id, 'User: ' + u.name]);
      replace(policy, opts.map(([v, l]) => h('option', { value: v, text: l })));
    });
  }

  function renderActions() {
    const inc = state.inc;
    if (!inc || !ctx.can('responder')) return;
    actions.hidden = inc.status === 'resolved';
    const s = inc.status;
    const enabled = { ack: s === 'open', mitigate: s === 'open' || s === 'acknowledged', resolve: s !== 'resolved',
      escalate: s !== 'resolved', snooze: s !== 'resolved', reassign: s !== 'resolved', 'add-note': s !== 'resolved' };
    for (const [k, b] of Object.entries(buttons)) b.disabled = !enabled[k];
  }

  // ---- data ----

  function merge(inc) {
    if (state.inc && state.inc.version > inc.version) return;
    state.inc = inc;
    renderFacts();
    renderSLA();
  }

  function addEvents(events) {
    let refresh = false;
    for (const ev of events) {
      if (!state.events.has(ev.id)) refresh = refresh || refreshOn.has(ev.type);
      state.events.set(ev.id, ev);
    }
    renderTimeline();
    return refresh;
  }

  let liveTimer = null;
  // refreshLive reads the workflow's state and the ledger again, at most
  // once per burst of events.
  function refreshLive() {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(async () => {
      try {
        const [view, ns] = await Promise.all([get(path), get(path + '/notifications')]);
        state.live = view.live || null;
        merge(stripLive(view));
        state.deliveries = ns.notifications;
        renderEscalation();
        renderSLA();
      } catch (e) { /* the next event or poll tries again */ }
    }, 150);
  }

  function stripLive(view) {
    const inc = { ...view };
    delete inc.live;
    return inc;
  }

  let usersLoaded = get('/users').then((r) => { for (const u of r.users || []) state.users.set(u.id, u); }).catch(() => {});

  async function loadAll() {
    try {
      const [view, tl, ns, as] = await Promise.all([get(path), get(path + '/timeline'), get(path + '/notifications'), get(path + '/alerts')]);
      state.live = view.live || null;
      merge(stripLive(view));
      addEvents(tl.events);
      state.deliveries = ns.notifications;
      state.alerts = as.alerts;
      await usersLoaded;
      renderEscalation();
      renderAlerts();
      message(status, '');
      return true;
    } catch (e) {
      message(status, e.status === 404 ? 'No such incident.' : e.message, true);
      return false;
    }
  }

  // contiguous is the highest sequence up to which every event is here.
  function contiguous() {
    const seqs = [...state.events.values()].map((e) => e.seq).filter((s) => s > 0).sort((a, b) => a - b);
    let w = 0;
    for (const s of seqs) {
      if (s === w + 1) w = s;
      else if (s > w + 1) break;
    }
    return w;
  }

  let feed = null;
  let stopped = false;
  buildActions();
  loadAll().then((ok) => {
    if (!ok || stopped) return;
    watermark = contiguous();
    feed = new Feed(() => '/api/v1/stream' + query({ incident: id, after: watermark }), {
      incident: (inc) => merge(inc),
      timeline: (events, lastID) => {
        if (lastID) watermark = Math.max(watermark, Number(lastID));
        if (addEvents(events)) refreshLive();
      },
      alerts: (as) => { state.alerts = as; renderAlerts(); },
    }, () => loadAll().then(() => refreshLive()), ctx.session.console.poll_seconds).start();
  });
  return () => { stopped = true; if (feed) feed.stop(); clearTimeout(liveTimer); };
}

