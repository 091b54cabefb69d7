// dom.js: building elements without parsing markup (every text is set as text,
// so nothing an alert or a user typed can run as markup), and times: shown
// in the viewer's time zone, with the absolute UTC time on hover.

// h creates an element. attrs: class, text, data-*, aria-*, on* handlers
// (functions) and any other attribute; false or null leaves one out.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace swaps el's children for children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const localShort = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

// utc is the absolute time, as the title of every time shown.
export function utc(iso) {
  return new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// time is a <time> element: the viewer's local time, UTC on hover.
export function time(iso, short) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  const d = new Date(iso);
  return h('time', { datetime: d.toISOString(), title: utc(iso), text: (short ? localShort : local).format(d) });
}

// duration writes a span of milliseconds as "1h 05m", "4m 09s" or "12s".
export function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${hr}h`;
  if (hr > 0) return `${hr}h ${two(m)}m`;
  if (m > 0) return `${m}m ${two(sec)}s`;
  return `${sec}s`;
}

// countdown is an element that counts down to iso every second: "in 4m 09s",
// then "4m 09s ago" (or over, with overdue set).
export function countdown(iso, overdueText) {
  const el = h('span', { class: 'countdown', 'data-until': new Date(iso).toISOString(), 'data-over': overdueText || 'ago', title: utc(iso) });
  tick(el);
  return el;
}

function tick(el) {
  const left = new Date(el.dataset.until).getTime() - Date.now();
  const text = left >= 0 ? 'in ' + duration(left) : duration(left) + ' ' + el.dataset.over;
  if (el.textContent !== text) el.textContent = text;
  el.classList.toggle('past', left < 0);
}

setInterval(() => document.querySelectorAll('.countdown').forEach(tick), 1000);

// badge is a status or severity pill.
export function badge(kind, value, id) {
  return h('span', { class: `badge ${kind}-${value}`, id, text: String(value).replace(/_/g, ' ') });
}

// field wraps a form control with its label.
export function field(label, control, hint) {
  const id = control.id || 'f-' + Math.random().toString(36).slice(2, 9);
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), control, hint ? h('small', { class: 'hint', text: hint }) : null);
}

// select builds a <select> from [value, label] pairs.
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([v, l]) => h('option', { value: v, selected: v === selected, text: l })));
}

// message shows an error (or a note) in a form's status line.
export function message(el, text, isError) {
  el.textContent = text || '';
  el.classList.toggle('error', !!isError);
  el.hidden = !text;
}
