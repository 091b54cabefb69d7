// The on-call page: for each schedule, who is on call now and until when,
// the shifts of the coming week with where each comes from (a rotation
// layer or an override), and the overrides not yet ended; above them the
// signed-in user's own shifts. A responder makes overrides for themselves
// and deletes their own, an admin does both for anyone: the server decides
// the same way (POST and DELETE /api/v1/schedules/{id}/overrides), and the
// page offers only what the signed-in user may do. Nothing here is pushed
// by the server: each schedule is read again when its current shift ends
// and after every change made on the page.

import { get, post, del } from '../api.js';
import { h, replace, time, countdown, field, select, message } from '../dom.js';

const day = 24 * 3600 * 1000;
// Schedules read at once: each is three requests, and the browser holds
// few connections per server.
const parallel = 4;

// source writes where a shift comes from.
function source(src) {
  if (!src) return '';
  if (src.kind === 'override') return 'Override';
  return `Layer ${src.layer}` + (src.layer_name ? ` (${src.layer_name})` : '');
}

// localInput is the value of a datetime-local input for the instant ms,
// in the viewer's time zone, to the minute.
function localInput(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}`;
}

const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'your time zone';

export function onCallView(main, ctx) {
  document.title = 'On call · incident-server';
  const me = ctx.session.user;
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  const mine = h('section', { class: 'panel', id: 'my-shifts', 'aria-labelledby': 'my-shifts-h' });
  const body = h('div', { id: 'schedules' }, h('p', { class: 'muted', text: 'Loading…' }));
  main.append(
    h('h1', { text: 'On call' }),
    h('p', { class: 'muted', text: `Times are in your time zone (${viewerZone}); hover one for UTC.` }),
    status, mine, body);

  const users = new Map();
  const names = new Map(); // schedule ID → name
  const timers = new Set();
  let stopped = false;

  const userName = (id) => (users.get(id) ? users.get(id).name : id);
  // mayOverride: whether the signed-in user may make or delete an override for uid.
  const mayOverride = (uid) => ctx.can('admin') || (ctx.can('responder') && uid === me);

  // shiftsTable lists shifts computed for [from, to): a shift cut by the
  // window's start is on now, one cut by its end goes on past it.
  function shiftsTable(id, shifts, from, to, withSchedule) {
    const start = (s) => (Date.parse(s.start) <= Date.parse(from) ? h('span', { title: 'started earlier', text: 'now' }) : time(s.start, true));
    const end = (s) => (Date.parse(s.end) >= Date.parse(to) ? h('span', { class: 'muted', text: 'past this week' }) : time(s.end, true));
    const cols = withSchedule ? ['Schedule', 'From', 'Until', 'Source'] : ['Who', 'From', 'Until', 'Source'];
    return h('table', { class: 'compact shifts', id },
      h('thead', {}, h('tr', {}, cols.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, shifts.map((s) => h('tr', { 'data-user': s.user_id, 'data-source': s.source.kind },
        withSchedule
          ? h('td', { 'data-label': 'Schedule', text: names.get(s.schedule_id) || s.schedule_id })
          : h('td', { 'data-label': 'Who', class: 'who-cell', text: s.user_name || userName(s.user_id) }),
        h('td', { 'data-label': 'From' }, start(s)),
        h('td', { 'data-label': 'Until' }, end(s)),
        h('td', { 'data-label': 'Source', class: 'source' },
          h('span', { class: 'badge source-' + s.source.kind, text: source(s.source) }))))));
  }

  async function loadMine() {
    const parts = [h('h2', { id: 'my-shifts-h', text: 'My shifts' })];
    if (!users.has(me)) {
      parts.push(h('p', { class: 'muted', text: `You are signed in as ${me}, which is not a user's ID, so no shifts are yours. Sign in as your user (usr_…) to see them here.` }));
      replace(mine, ...parts);
      return;
    }
    try {
      const r = await get('/users/' + encodeURIComponent(me) + '/shifts');
      if (r.shifts.length === 0) parts.push(h('p', { class: 'muted', text: 'You have no shifts in the coming week.' }));
      else parts.push(shiftsTable('my-shift-list', r.shifts, r.from, r.to, true));
    } catch (e) {
      parts.push(h('p', { class: 'form-status error', text: e.message }));
    }
    replace(mine, ...parts);
  }

  // ---- one schedule ----

  function schedulePanel(sch) {
    const panel = h('article', { class: 'panel schedule', 'data-schedule': sch.id, 'aria-labelledby': 'sch-h-' + sch.id });
    const head = h('h2', { id: 'sch-h-' + sch.id }, sch.name, h('small', { class: 'muted', text: ' ' + sch.time_zone }));
    const now = h('div', { class: 'now' }, h('p', { class: 'muted', text: 'Loading…' }));
    const st = h('p', { class: 'form-status', role: 'alert', hidden: true });
    const week = h('div', { class: 'week' });
    const overrides = h('div', { class: 'overrides' });
    const formSlot = h('div', { class: 'override-form' });
    let current = null; // the on-call shift, if anyone is on call
    let reloadTimer = null;

    const members = [];
    for (const l of sch.layers || []) for (const m of l.members || []) if (!members.includes(m)) members.push(m);

    async function load() {
      try {
        const path = '/schedules/' + encodeURIComponent(sch.id);
        const [oc, sh, ov] = await Promise.all([get(path + '/on-call'), get(path + '/shifts'), get(path + '/overrides')]);
        current = oc.on_call;
        renderNow(oc.on_call, sh.shifts);
        renderWeek(sh);
        renderOverrides(ov.overrides);
        message(st, '');
        // Read again when the current shift ends (or, with nobody on call,
        // when the next one starts), at most a day from now.
        const next = current ? Date.parse(current.end) : (sh.shifts[0] ? Date.parse(sh.shifts[0].start) : 0);
        if (reloadTimer) { clearTimeout(reloadTimer); timers.delete(reloadTimer); }
        if (next > Date.now() && next - Date.now() < day) {
          reloadTimer = setTimeout(() => { timers.delete(reloadTimer); if (!stopped) load(); }, next - Date.now() + 500);
          timers.add(reloadTimer);
        }
      } catch (e) {
        replace(now);
        message(st, e.message, true);
      }
    }

    function renderNow(oc, shifts) {
      if (!oc) {
        const next = shifts.find((s) => Date.parse(s.start) > Date.now());
        replace(now, h('p', { class: 'nobody' }, h('strong', { text: 'Nobody is on call.' }),
          next ? h('span', {}, ' Next: ', next.user_name || userName(next.user_id), ' from ', time(next.start, true), ' (', countdown(next.start), ')') : ' Nobody is in the coming week either.'));
        return;
      }
      replace(now,
        h('span', { class: 'label', text: 'On call now' }),
        h('strong', { class: 'on-call-name', 'data-user': oc.user_id, text: oc.user_name || userName(oc.user_id) }),
        h('span', {}, 'until ', time(oc.end, true), ' (', countdown(oc.end), ')'),
        h('span', { class: 'badge source-' + oc.source.kind, text: source(oc.source) }));
    }

    function renderWeek(sh) {
      replace(week, h('h3', { text: 'The coming week' }),
        sh.shifts.length === 0 ? h('p', { class: 'muted', text: 'Nobody is on call in the coming week.' }) : shiftsTable(null, sh.shifts, sh.from, sh.to, false));
    }

    function renderOverrides(list) {
      const parts = [h('h3', { text: 'Overrides' })];
      if (list.length === 0) parts.push(h('p', { class: 'muted', text: 'No override is planned.' }));
      else parts.push(h('table', { class: 'compact override-list' },
        h('thead', {}, h('tr', {}, ['Who', 'From', 'Until', 'Covers for', 'Made by'].map((t) => h('th', { scope: 'col', text: t })),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Actions' })))),
        h('tbody', {}, list.map((o) => h('tr', { 'data-override': o.id, 'data-user': o.user_id },
          h('td', { 'data-label': 'Who', text: userName(o.user_id) }),
          h('td', { 'data-label': 'From' }, time(o.start, true)),
          h('td', { 'data-label': 'Until' }, time(o.end, true)),
          h('td', { 'data-label': 'Covers for', text: o.replaces ? userName(o.replaces) : 'everyone' }),
          h('td', { 'data-label': 'Made by', text: o.created_by || '' }),
          h('td', { class: 'row-actions' }, mayOverride(o.user_id) ? deleteButton(o) : null))))));
      replace(overrides, ...parts);
    }

    // deleteButton asks once more before it deletes: an override deleted by
    // mistake is someone not paged.
    function deleteButton(o) {
      const cell = h('span', { class: 'confirm' });
      const ask = h('button', { type: 'button', class: 'link delete-override', text: 'Delete',
        'aria-label': `Delete the override of ${userName(o.user_id)}`, onclick: () => {
          const yes = h('button', { type: 'button', class: 'danger confirm-delete', text: 'Delete override', onclick: async () => {
            yes.disabled = true;
            try {
              await del('/schedules/' + encodeURIComponent(sch.id) + '/overrides/' + encodeURIComponent(o.id));
              await load();
              loadMine();
            } catch (e) {
              message(st, e.message, true);
              yes.disabled = false;
            }
          } });
          const no = h('button', { type: 'button', text: 'Keep', onclick: () => { replace(cell, ask); ask.focus(); } });
          replace(cell, yes, ' ', no);
          yes.focus();
        } });
      cell.append(ask);
      return cell;
    }

    function overrideForm() {
      const choices = ctx.can('admin') ? [...users.values()].map((u) => [u.id, u.name]) : [[me, userName(me)]];
      const who = select({ class: 'override-user' }, choices, users.has(me) ? me : (choices[0] || [''])[0]);
      const start = Date.now() - Date.now() % 60000;
      const end = current && Date.parse(current.end) - start < 7 * day ? Date.parse(current.end) : start + 3600 * 1000;
      const from = h('input', { type: 'datetime-local', class: 'override-start', required: true, value: localInput(start) });
      const until = h('input', { type: 'datetime-local', class: 'override-end', required: true, value: localInput(end) });
      const replaces = select({ class: 'override-replaces' }, [['', 'Everyone (gaps included)'], ...members.map((m) => [m, userName(m)])], '');
      const fst = h('p', { class: 'form-status', role: 'alert', hidden: true });
      const form = h('form', { class: 'edit', 'aria-label': 'New override of ' + sch.name },
        h('div', { class: 'inline' }, field('Who covers', who), field('From', from), field('Until', until),
          field('Covers for', replaces, 'Only while this person would be on call.')),
        h('div', { class: 'buttons' },
          h('button', { type: 'submit', class: 'primary create-override', text: 'Create override' }),
          h('button', { type: 'button', text: 'Cancel', onclick: () => closeForm() })),
        fst);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const s = Date.parse(from.value), u = Date.parse(until.value);
        if (Number.isNaN(s) || Number.isNaN(u)) { message(fst, 'Give both ends of the override.', true); return; }
        if (u <= s) { message(fst, 'The override must end after it starts.', true); until.focus(); return; }
        const btn = form.querySelector('button[type=submit]');
        btn.disabled = true;
        try {
          const req = { user_id: who.value, start: new Date(s).toISOString(), end: new Date(u).toISOString() };
          if (replaces.value) req.replaces = replaces.value;
          await post('/schedules/' + encodeURIComponent(sch.id) + '/overrides', req);
          closeForm();
          await load();
          loadMine();
        } catch (err) {
          message(fst, err.message, true);
          btn.disabled = false;
        }
      });
      return form;
    }

    // The button gives way to the form; closing the form brings it back.
    const add = h('button', { type: 'button', class: 'add-override', text: 'Add an override', 'aria-label': 'Add an override to ' + sch.name,
      onclick: () => {
        const form = overrideForm();
        replace(formSlot, form);
        add.hidden = true;
        form.querySelector('select, input').focus();
      } });

    function closeForm() {
      replace(formSlot);
      add.hidden = false;
      add.focus();
    }

    // A responder makes overrides only for their own user, so one whose
    // sign-in names no user gets no button.
    const canAdd = ctx.can('admin') || (ctx.can('responder') && users.has(me));
    panel.append(head, now, st, canAdd ? h('div', { class: 'panel-actions' }, add) : null, formSlot, week, overrides);
    return { panel, load };
  }

  async function load() {
    try {
      const [s, u] = await Promise.all([get('/schedules'), get('/users')]);
      for (const x of u.users || []) users.set(x.id, x);
      const schedules = s.schedules || [];
      for (const sch of schedules) names.set(sch.id, sch.name);
      loadMine();
      if (schedules.length === 0) {
        replace(body, h('p', { class: 'muted', text: 'No schedules yet: POST /api/v1/schedules creates one.' }));
        return;
      }
      const panels = schedules.map(schedulePanel);
      replace(body, ...panels.map((p) => p.panel));
      const queue = [...panels];
      await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, async () => {
        while (queue.length && !stopped) await queue.shift().load();
      }));
      message(status, '');
    } catch (e) {
      replace(body);
      message(status, e.message, true);
    }
  }

  load();
  return () => { stopped = true; for (const t of timers) clearTimeout(t); timers.clear(); };
}
