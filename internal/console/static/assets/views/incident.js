// The incident page: what it is, where its SLA and escalation stand, who
// was paged on which channel with what outcome, its alerts, its runbooks
// and their steps, and its timeline, and the actions a responder takes.
// Everything updates live.
//
// Runbooks: each run started on the incident (state.live.runbooks, the
// workflow's own account) with its steps, and the step in progress's
// buttons: a checklist item is marked done or skipped, an approval gate is
// approved or rejected. A step command answers with the run as the
// runbook's workflow has it, which may be ahead of the incident's account
// for a moment; the page shows whichever has progressed further.

import { get, post, query } from '../api.js';
import { h, replace, time, badge, countdown, field, select, message } from '../dom.js';
import { Feed } from '../live.js';

// Timeline event types after which the escalation state and the delivery
// ledger are read again.
const refreshOn = new Set(['notified', 'notify_failed', 'escalated', 'reassigned', 'snoozed', 'snooze_ended',
  'ack_timeout', 'escalation_exhausted', 'escalation_policy', 'sla_warning', 'sla_breached',
  'acknowledged', 'mitigated', 'resolved', 'opened',
  'runbook_started', 'runbook_step', 'runbook_approval_overdue', 'runbook_finished', 'resolve_held']);

const eventLabels = {
  opened: 'Opened', acknowledged: 'Acknowledged', mitigated: 'Mitigated', resolved: 'Resolved',
  duplicate: 'Duplicate alert', note: 'Note', escalation_policy: 'Escalation policy', notified: 'Paged',
  notify_failed: 'Page failed', escalated: 'Escalated', snoozed: 'Snoozed', snooze_ended: 'Snooze ended',
  reassigned: 'Reassigned', ack_timeout: 'Acknowledgement lapsed', escalation_exhausted: 'Escalation exhausted',
  sla_warning: 'SLA at risk', sla_breached: 'SLA breached', alert: 'Alert', alert_resolved: 'Alert resolved',
  workflow_missing: 'Workflow missing', no_one_on_call: 'Nobody on call',
  notification_rules_stopped: 'Notification rules stopped', runbook_started: 'Runbook started',
  runbook_step: 'Runbook step', runbook_approval_overdue: 'Runbook approval overdue',
  runbook_finished: 'Runbook finished', resolve_held: 'Resolve held back',
};

const kindLabels = { manual: 'checklist', action: 'action', approval: 'approval', wait: 'wait' };

// progress orders the states of one run: statuses only move forward, so of
// two accounts of a run the one with more progress is the later.
const stepRank = { pending: 0, running: 1, waiting_approval: 1, done: 2, skipped: 2, failed: 2, cancelled: 2 };
function progress(run) {
  return (run.steps || []).reduce((n, st) => n + (stepRank[st.status] || 0), 0) + (run.status === 'running' ? 0 : 1);
}

export function incidentView(main, ctx, id) {
  const path = '/incidents/' + encodeURIComponent(id);
  const state = { inc: null, live: null, events: new Map(), alerts: [], deliveries: [], users: new Map(), policies: [],
    answered: new Map(), library: [] };
  let watermark = 0;

  const title = h('h1', { id: 'title', text: id });
  const facts = h('dl', { class: 'facts', id: 'facts' });
  const actions = h('section', { class: 'panel actions', id: 'actions', 'aria-labelledby': 'actions-h', hidden: true });
  const sla = h('section', { class: 'panel', id: 'sla', 'aria-labelledby': 'sla-h' });
  const esc = h('section', { class: 'panel', id: 'escalation', 'aria-labelledby': 'esc-h' });
  const alerts = h('section', { class: 'panel', id: 'alerts', 'aria-labelledby': 'alerts-h' });
  const runbooks = h('section', { class: 'panel', id: 'runbooks', 'aria-labelledby': 'runbooks-h' });
  const timeline = h('section', { class: 'panel wide', id: 'timeline-panel', 'aria-labelledby': 'timeline-h' });
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/console/incidents', text: 'Incidents' }), ' › ', h('span', { text: id })),
    title, facts, status, actions,
    h('div', { class: 'grid' }, sla, esc, alerts, runbooks, timeline));

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

  // ---- runbooks ----

  // runbookRuns is the incident's runs, oldest first: the workflow's
  // account (state.live), each run replaced by a step command's answer while
  // that is further on; without a live state (the incident resolved, or
  // its workflow cannot be reached), as the timeline recorded them.
  function runbookRuns() {
    if (!state.live) return runsFromTimeline();
    const list = (state.live.runbooks || []).slice();
    for (const [n, r] of state.answered) {
      const i = list.findIndex((x) => x.run === n);
      if (i < 0) list.push(r);
      else if (progress(r) > progress(list[i])) list[i] = r;
      else state.answered.delete(n);
    }
    return list.sort((a, b) => a.run - b.run);
  }

  function runsFromTimeline() {
    const byRun = new Map();
    const events = [...state.events.values()].filter((ev) => ev.type.startsWith('runbook_') && ev.data && ev.data.run)
      .sort((a, b) => Date.parse(a.event_time) - Date.parse(b.event_time) || a.seq - b.seq);
    for (const ev of events) {
      const d = ev.data;
      let run = byRun.get(d.run);
      if (!run) {
        run = { run: d.run, runbook_id: d.runbook_id, name: d.runbook, version: d.version, status: d.status, started_at: ev.event_time, steps: [], recorded: true };
        byRun.set(d.run, run);
      }
      run.status = d.status || run.status;
      if (ev.type === 'runbook_started') run.started_by = ev.actor;
      if (d.step) {
        run.steps[d.step - 1] = { no: d.step, name: d.step_name, kind: d.kind, status: d.step_status, actor: ev.actor, note: d.note,
          http_status: d.http_status, attempts: d.attempts, output: d.output };
      }
    }
    return [...byRun.values()].map((r) => ({ ...r, steps: r.steps.filter(Boolean) })).sort((a, b) => a.run - b.run);
  }

  const runbookStatus = h('p', { class: 'form-status', role: 'alert', hidden: true });

  async function stepCommand(button, run, step, action, note) {
    message(runbookStatus, '');
    button.disabled = true;
    try {
      const body = note ? { note } : {};
      const res = await post(`${path}/runbooks/${run}/steps/${step}/${action}`, body);
      state.answered.set(res.run, res);
      renderRunbooks();
      refreshLive();
    } catch (e) {
      message(runbookStatus, e.message, true);
      button.disabled = false;
    }
  }

  // stepActions are the buttons of the step in progress that the signed-in
  // role may use.
  function stepActions(run, st) {
    const active = state.inc && state.inc.status !== 'resolved' && !run.recorded;
    const key = `${run.run}-${st.no}`;
    let buttons = [];
    if (active && st.kind === 'manual' && st.status === 'running' && ctx.can('responder')) {
      buttons = [
        h('button', { type: 'button', class: 'primary step-complete', text: 'Mark done', 'aria-label': `Mark step ${st.no}, ${st.name}, done`,
          onclick: (e) => stepCommand(e.currentTarget, run.run, st.no, 'complete', noteOf(key)) }),
        st.required ? null : h('button', { type: 'button', class: 'step-skip', text: 'Skip', 'aria-label': `Skip step ${st.no}, ${st.name}`,
          onclick: (e) => stepCommand(e.currentTarget, run.run, st.no, 'skip', noteOf(key)) }),
      ];
    } else if (active && st.kind === 'approval' && st.status === 'waiting_approval' && ctx.can(st.role || 'responder')) {
      buttons = [
        h('button', { type: 'button', class: 'primary step-approve', text: 'Approve', 'aria-label': `Approve step ${st.no}, ${st.name}`,
          onclick: (e) => stepCommand(e.currentTarget, run.run, st.no, 'approve', noteOf(key)) }),
        h('button', { type: 'button', class: 'step-reject', text: 'Reject', 'aria-label': `Reject step ${st.no}, ${st.name}`,
          onclick: (e) => {
            const note = noteOf(key);
            if (!note) { message(runbookStatus, 'Say why in the note to reject the step.', true); runbooks.querySelector(`[data-keep="note-${key}"]`).focus(); return; }
            stepCommand(e.currentTarget, run.run, st.no, 'reject', note);
          } }),
      ];
    }
    if (buttons.length === 0) return null;
    const note = h('input', { type: 'text', maxlength: 4096, autocomplete: 'off', 'data-keep': 'note-' + key,
      placeholder: st.kind === 'approval' ? 'required to reject' : 'optional' });
    return h('div', { class: 'step-actions' }, field(st.kind === 'approval' ? 'Note' : 'Note (optional)', note), h('div', { class: 'buttons' }, buttons));
  }

  function noteOf(key) {
    const el = runbooks.querySelector(`[data-keep="note-${key}"]`);
    return el ? el.value.trim() : '';
  }

  function stepDetails(st) {
    const bits = [];
    if (st.kind === 'approval' && st.role && !['done', 'failed', 'skipped', 'cancelled'].includes(st.status)) bits.push(`needs the ${st.role} role`);
    if (st.actor) bits.push(`by ${st.actor}`);
    if (st.finished_at) bits.push(time(st.finished_at, true));
    if (st.http_status) bits.push(`HTTP ${st.http_status}` + (st.attempts ? ` after ${st.attempts} attempt(s)` : ''));
    else if (st.attempts > 1) bits.push(`${st.attempts} attempts`);
    if (st.overdue) bits.push('overdue: the escalation targets were paged');
    const out = [];
    if (bits.length) out.push(h('p', { class: 'step-meta' }, bits.map((b, i) => [i ? ' · ' : '', b])));
    if (st.note) out.push(h('p', { class: 'step-note' }, h('strong', { text: 'Note: ' }), h('span', { class: 'note-text', text: st.note })));
    if (st.output) out.push(h('pre', { class: 'step-output code', text: st.output }));
    return out;
  }

  function renderRunbooks() {
    if (!state.inc) return;
    // Keep what is being typed (and where) across a re-render.
    const kept = new Map([...runbooks.querySelectorAll('[data-keep]')].map((el) => [el.dataset.keep, el.value]));
    const focused = document.activeElement && runbooks.contains(document.activeElement) ? document.activeElement.dataset.keep : null;
    const runs = runbookRuns();
    const parts = [h('h2', { id: 'runbooks-h', text: 'Runbooks' })];
    if (runs.length === 0) parts.push(h('p', { class: 'muted', id: 'no-runbooks', text: 'No runbook has run on this incident.' }));
    if (runs.some((r) => r.recorded)) parts.push(h('p', { class: 'muted', text: 'As the timeline recorded them.' }));
    for (const run of runs) {
      parts.push(h('article', { class: 'run', 'data-run': run.run, 'data-status': run.status, 'aria-labelledby': `run-h-${run.run}` },
        h('h3', { id: `run-h-${run.run}` }, run.name, ' ', badge('run', run.status)),
        h('p', { class: 'muted run-meta' }, `Version ${run.version} · `, run.started_by ? `started by ${run.started_by} ` : 'started with the incident ',
          time(run.started_at, true), run.finished_at ? [' · ended ', time(run.finished_at, true)] : null),
        h('ol', { class: 'run-steps' }, (run.steps || []).map((st) => h('li', { 'data-step': st.no, 'data-status': st.status, 'data-kind': st.kind },
          h('div', { class: 'step-head' },
            h('strong', { class: 'step-name', text: st.name }), ' ',
            h('span', { class: 'step-kind', text: kindLabels[st.kind] || st.kind }),
            st.required ? h('span', { class: 'step-required', text: 'required' }) : null,
            h('span', { class: 'badge step-' + st.status + ' step-status', text: st.status.replace(/_/g, ' ') })),
          st.instructions ? h('p', { class: 'pre step-instructions', text: st.instructions }) : null,
          stepDetails(st),
          stepActions(run, st))))));
    }
    parts.push(runbookStatus);
    if (ctx.can('responder') && state.inc.status !== 'resolved') parts.push(startForm());
    replace(runbooks, ...parts);
    for (const el of runbooks.querySelectorAll('[data-keep]')) {
      if (kept.has(el.dataset.keep)) el.value = kept.get(el.dataset.keep);
      if (focused && el.dataset.keep === focused) el.focus();
    }
  }

  function startForm() {
    const choice = select({ 'data-keep': 'start-runbook', id: 'start-runbook' },
      [['', state.library.length ? 'Choose a runbook…' : 'No runbooks yet'], ...state.library.map((rb) => [rb.id, rb.name])]);
    const form = h('form', { class: 'inline start-runbook' }, field('Start a runbook', choice),
      h('button', { type: 'submit', id: 'start-runbook-button', text: 'Start' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!choice.value) { message(runbookStatus, 'Choose a runbook to start.', true); choice.focus(); return; }
      const button = form.querySelector('button');
      button.disabled = true;
      message(runbookStatus, '');
      try {
        const run = await post(path + '/runbooks', { runbook_id: choice.value });
        choice.value = '';
        state.answered.set(run.run, run);
        renderRunbooks();
        refreshLive();
      } catch (err) {
        message(runbookStatus, err.message, true);
        button.disabled = false;
      }
    });
    return form;
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
        renderRunbooks();
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
        renderRunbooks();
      } catch (e) { /* the next event or poll tries again */ }
    }, 150);
  }

  function stripLive(view) {
    const inc = { ...view };
    delete inc.live;
    return inc;
  }

  // The runbook library, for the start form (responders only).
  const libraryLoaded = ctx.can('responder')
    ? get('/runbooks').then((r) => { state.library = r.runbooks || []; }).catch(() => {})
    : Promise.resolve();

  let usersLoaded = get('/users').then((r) => { for (const u of r.users || []) state.users.set(u.id, u); }).catch(() => {});

  async function loadAll() {
    try {
      const [view, tl, ns, as] = await Promise.all([get(path), get(path + '/timeline'), get(path + '/notifications'), get(path + '/alerts')]);
      state.live = view.live || null;
      merge(stripLive(view));
      addEvents(tl.events);
      state.deliveries = ns.notifications;
      state.alerts = as.alerts;
      await Promise.all([usersLoaded, libraryLoaded]);
      renderEscalation();
      renderAlerts();
      renderRunbooks();
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

