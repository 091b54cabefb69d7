// The incident list: newest first, filtered by status, severity and
// service, paged by cursor, and live: an incident opened or changed
// anywhere appears or changes here without a reload.

import { get, query } from '../api.js';
import { h, replace, time, badge, select, field, message } from '../dom.js';
import { Feed } from '../live.js';

const statuses = ['open', 'acknowledged', 'mitigated', 'resolved'];
const severities = ['critical', 'high', 'medium', 'low', 'info'];

export function listView(main, ctx) {
  document.title = 'Incidents · incident-server';
  const params = new URLSearchParams(location.search);
  const filter = { status: params.get('status') || '', severity: params.get('severity') || '', service: params.get('service') || '' };
  const byID = new Map();
  let cursor = '';

  const statusSel = select({ name: 'status' }, [['', 'Any status'], ...statuses.map((s) => [s, s])], filter.status);
  const sevSel = select({ name: 'severity' }, [['', 'Any severity'], ...severities.map((s) => [s, s])], filter.severity);
  const service = h('input', { name: 'service', value: filter.service, autocomplete: 'off', spellcheck: 'false', placeholder: 'all services' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter incidents' },
    field('Status', statusSel), field('Severity', sevSel), field('Service', service),
    h('button', { type: 'submit', text: 'Filter' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate('/console/incidents' + query({ status: statusSel.value, severity: sevSel.value, service: service.value.trim() }));
  });

  const tbody = h('tbody', { id: 'incidents' });
  const table = h('table', { class: 'list' },
    h('caption', { class: 'visually-hidden', text: 'Incidents, newest first' }),
    h('thead', {}, h('tr', {}, ['Severity', 'Title', 'Service', 'Status', 'Opened'].map((t) => h('th', { scope: 'col', text: t })))),
    tbody);
  const empty = h('p', { class: 'muted empty', text: 'No incidents match.', hidden: true });
  const more = h('button', { type: 'button', class: 'more', text: 'Load older incidents', hidden: true });
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  main.append(h('div', { class: 'heading' }, h('h1', { text: 'Incidents' })), form, status, table, empty, more);

  const matches = (inc) => (!filter.status || inc.status === filter.status) &&
    (!filter.severity || inc.severity === filter.severity) && (!filter.service || inc.service === filter.service);

  function row(inc) {
    return h('tr', { 'data-id': inc.id, 'data-status': inc.status },
      h('td', { 'data-label': 'Severity' }, badge('sev', inc.severity)),
      h('td', { 'data-label': 'Title', class: 'title' }, h('a', { href: '/console/incidents/' + encodeURIComponent(inc.id), text: inc.title })),
      h('td', { 'data-label': 'Service', text: inc.service }),
      h('td', { 'data-label': 'Status', class: 'status' }, badge('status', inc.status)),
      h('td', { 'data-label': 'Opened' }, time(inc.created_at, true)));
  }

  // upsert shows inc where it belongs (newest first), replacing an older
  // version of it; live rows flash once.
  function upsert(inc, fresh) {
    const known = byID.get(inc.id);
    if (known && known.version > inc.version) return;
    const old = tbody.querySelector(`tr[data-id="${CSS.escape(inc.id)}"]`);
    if (!matches(inc)) {
      byID.delete(inc.id);
      if (old) old.remove();
      empty.hidden = byID.size > 0;
      return;
    }
    byID.set(inc.id, inc);
    const tr = row(inc);
    if (fresh) tr.classList.add('fresh');
    if (old) {
      old.replaceWith(tr);
    } else {
      const at = Date.parse(inc.created_at);
      const after = [...tbody.rows].find((r) => byID.has(r.dataset.id) && Date.parse(byID.get(r.dataset.id).created_at) < at);
      if (after) tbody.insertBefore(tr, after);
      else if (!cursor) tbody.append(tr);
      else if (!fresh) tbody.append(tr);
      else return; // older than this page's end: it shows when paging reaches it
    }
    empty.hidden = true;
  }

  async function load(next) {
    try {
      const page = await get('/incidents' + query({ ...filter, cursor: next || '', limit: 50 }));
      if (!next) {
        byID.clear();
        replace(tbody);
      }
      cursor = page.next_cursor || '';
      page.incidents.forEach((inc) => upsert(inc, false));
      more.hidden = !cursor;
      empty.hidden = byID.size > 0;
      message(status, '');
    } catch (e) {
      message(status, e.message, true);
    }
  }
  more.addEventListener('click', () => load(cursor));

  let last = '';
  const feed = new Feed(() => '/api/v1/stream' + query({ after: last }), {
    incident: (inc, id) => { last = id || last; upsert(inc, true); },
  }, () => load(''), ctx.session.console.poll_seconds).start();
  // Subscribe first, then read the list: a change in between arrives by the
  // feed, so none is missed.
  Promise.race([feed.ready, new Promise((r) => setTimeout(r, 3000))]).then(() => load(''));
  return () => feed.stop();
}
