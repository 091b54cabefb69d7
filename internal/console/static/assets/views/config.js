// Services and escalation policies: everyone reads them; an admin edits
// them here (services with a form, policies as their JSON).

import { get, put } from '../api.js';
import { h, replace, field, select, message } from '../dom.js';

export function servicesView(main, ctx) {
  document.title = 'Services · incident-server';
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  const body = h('div', { id: 'services' }, h('p', { class: 'muted', text: 'Loading…' }));
  main.append(h('h1', { text: 'Services' }), status, body);
  let policies = [];

  function editForm(svc, done) {
    const name = h('input', { value: svc.name || '', autocomplete: 'off' });
    const pol = select({}, [['', 'No policy (pages nobody)'], ...policies.map((p) => [p.id, p.name])], svc.escalation_policy_id || '');
    const ack = h('input', { value: svc.ack_timeout && svc.ack_timeout !== '0s' ? svc.ack_timeout : '', placeholder: 'e.g. 30m', autocomplete: 'off' });
    const auto = h('input', { type: 'checkbox', checked: svc.auto_resolve !== false });
    const st = h('p', { class: 'form-status', role: 'alert', hidden: true });
    const form = h('form', { class: 'edit' },
      field('Name', name), field('Escalation policy', pol),
      field('Acknowledgement timeout', ack, 'An acknowledged incident neither mitigated nor resolved this long reopens. Empty: never.'),
      h('div', { class: 'field check' }, auto, h('label', { for: auto.id = 'auto-' + svc.id, text: 'Resolve when every alert has resolved' })),
      h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary', text: 'Save' }), h('button', { type: 'button', text: 'Cancel', onclick: done })),
      st);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const next = { ...svc, name: name.value.trim(), escalation_policy_id: pol.value, auto_resolve: auto.checked };
      if (ack.value.trim()) next.ack_timeout = ack.value.trim(); else delete next.ack_timeout;
      for (const k of ['created_at', 'updated_at']) delete next[k];
      try {
        await put('/services/' + encodeURIComponent(svc.id), next);
        done();
        load();
      } catch (err) { message(st, err.message, true); }
    });
    return form;
  }

  async function load() {
    try {
      const [s, p] = await Promise.all([get('/services'), get('/escalation-policies')]);
      policies = p.escalation_policies || [];
      const byID = new Map(policies.map((x) => [x.id, x.name]));
      const services = s.services || [];
      if (services.length === 0) { replace(body, h('p', { class: 'muted', text: 'No services yet: POST /api/v1/services creates one.' })); return; }
      replace(body, h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Service', 'Name', 'Escalation policy', 'Ack timeout', 'Auto-resolve', ''].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, services.map((svc) => {
          const tr = h('tr', { 'data-id': svc.id },
            h('td', { 'data-label': 'Service' }, h('a', { href: '/console/incidents?service=' + encodeURIComponent(svc.id), text: svc.id })),
            h('td', { 'data-label': 'Name', text: svc.name || '' }),
            h('td', { 'data-label': 'Escalation policy', text: svc.escalation_policy_id ? (byID.get(svc.escalation_policy_id) || svc.escalation_policy_id) : 'none' }),
            h('td', { 'data-label': 'Ack timeout', text: svc.ack_timeout && svc.ack_timeout !== '0s' ? svc.ack_timeout : '—' }),
            h('td', { 'data-label': 'Auto-resolve', text: svc.auto_resolve === false ? 'no' : 'yes' }),
            h('td', {}, ctx.can('admin') ? h('button', { type: 'button', class: 'link', text: 'Edit', 'aria-label': 'Edit ' + svc.id, onclick: () => {
              const cell = h('td', { colspan: 6 });
              const editRow = h('tr', { class: 'editing' }, cell);
              cell.append(editForm(svc, () => editRow.remove()));
              tr.after(editRow);
              cell.querySelector('input').focus();
            } }) : null));
          return tr;
        }))));
      message(status, '');
    } catch (e) { message(status, e.message, true); }
  }
  load();
}

export function policiesView(main, ctx) {
  document.title = 'Escalation policies · incident-server';
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  const body = h('div', { id: 'policies' }, h('p', { class: 'muted', text: 'Loading…' }));
  main.append(h('h1', { text: 'Escalation policies' }), status, body);

  function editor(pol, done) {
    const copy = { ...pol };
    for (const k of ['created_at', 'updated_at']) delete copy[k];
    const text = h('textarea', { rows: 14, class: 'code', spellcheck: 'false' });
    text.value = JSON.stringify(copy, null, 2);
    const st = h('p', { class: 'form-status', role: 'alert', hidden: true });
    const form = h('form', { class: 'edit' },
      field('Policy (JSON, as PUT /api/v1/escalation-policies/' + pol.id + ' takes it)', text,
        'Steps: [{"delay": "5m", "targets": [{"type": "user", "id": "…"}]}]. Open incidents keep the version they started with.'),
      h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary', text: 'Save' }), h('button', { type: 'button', text: 'Cancel', onclick: done })),
      st);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      let next;
      try { next = JSON.parse(text.value); } catch (err) { message(st, 'Not valid JSON: ' + err.message, true); return; }
      try {
        await put('/escalation-policies/' + encodeURIComponent(pol.id), next);
        done();
        load();
      } catch (err) { message(st, err.message, true); }
    });
    return form;
  }

  async function load() {
    try {
      const [p, u] = await Promise.all([get('/escalation-policies'), get('/users')]);
      const users = new Map((u.users || []).map((x) => [x.id, x.name]));
      const policies = p.escalation_policies || [];
      if (policies.length === 0) { replace(body, h('p', { class: 'muted', text: 'No escalation policies yet: POST /api/v1/escalation-policies creates one.' })); return; }
      replace(body, ...policies.map((pol) => {
        const card = h('article', { class: 'panel', 'data-id': pol.id },
          h('h2', {}, pol.name, h('small', { class: 'muted', text: ` version ${pol.version}` })),
          h('ol', { class: 'steps' }, (pol.steps || []).map((st, i) => h('li', {},
            i === 0 && (!st.delay || st.delay === '0s') ? 'At once: ' : `After ${st.delay}: `,
            (st.targets || []).map((t) => users.get(t.id) || t.id).join(', ')))),
          h('p', { class: 'muted', text: pol.repeat ? `Then starts over ${pol.repeat} more time(s).` : 'Does not repeat.' }));
        if (ctx.can('admin')) {
          card.append(h('button', { type: 'button', class: 'link', text: 'Edit', 'aria-label': 'Edit ' + pol.name, onclick: (e) => {
            const form = editor(pol, () => { form.remove(); e.target.hidden = false; });
            e.target.hidden = true;
            card.append(form);
            form.querySelector('textarea').focus();
          } }));
        }
        return card;
      }));
      message(status, '');
    } catch (e) { message(status, e.message, true); }
  }
  load();
}
