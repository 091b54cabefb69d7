// app.js: start-up and routing. The console is one page: the server
// answers every /console/… path with index.html, and this module shows
// the view the path names. Links to /console/… are followed without a
// reload (history.pushState).
//
// Adding a page: write assets/views/NAME.js exporting a function
// (main, ctx) that renders into main and may return a cleanup function,
// add a route below and a link in index.html's <nav>.

import { get, post, del, setSession, whenUnauthorized } from './api.js';
import { h, replace } from './dom.js';
import { listView } from './views/list.js';
import { incidentView } from './views/incident.js';
import { servicesView, policiesView } from './views/config.js';
import { onCallView } from './views/oncall.js';
import { signInView } from './views/signin.js';

const roles = ['viewer', 'responder', 'admin'];

// ctx is what every view gets: who is signed in and what they may do.
const ctx = {
  session: null,
  // can reports whether the signed-in role may do what needs role.
  can(role) {
    return !!this.session && roles.indexOf(this.session.role) >= roles.indexOf(role);
  },
  navigate,
};

const routes = [
  [/^\/console\/?$/, () => { navigate('/console/incidents', true); }],
  [/^\/console\/incidents$/, listView],
  [/^\/console\/incidents\/([^/]+)$/, incidentView],
  [/^\/console\/services$/, servicesView],
  [/^\/console\/policies$/, policiesView],
  [/^\/console\/on-call$/, onCallView],
];

let cleanup = null;

function main() { return document.getElementById('main'); }

function show() {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.pathname;
  const m = main();
  replace(m);
  if (!ctx.session) {
    cleanup = signInView(m, ctx, signedIn) || null;
    return;
  }
  for (const [pattern, view] of routes) {
    const match = path.match(pattern);
    if (match) {
      const section = path.split('/')[2] || '';
      document.querySelectorAll('#nav a').forEach((a) => {
        if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      });
      cleanup = view(m, ctx, ...match.slice(1).map(decodeURIComponent)) || null;
      return;
    }
  }
  replace(m, h('h1', { text: 'Not found' }), h('p', {}, 'No page here. ', h('a', { href: '/console/incidents', text: 'See the incidents.' })));
}

// navigate shows path, adding it to the history (or replacing the entry).
export function navigate(path, replaceEntry) {
  if (replaceEntry) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show();
  main().focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href^="/console/"]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', show);

function signedIn(session) {
  ctx.session = session;
  setSession(session.csrf_token);
  replace(document.getElementById('who-name'), session.user);
  replace(document.getElementById('who-role'), session.role);
  document.getElementById('who').hidden = false;
  document.getElementById('nav').hidden = false;
  document.body.dataset.role = session.role;
  if (location.pathname === '/console/login' || location.pathname === '/console/' || location.pathname === '/console') {
    navigate('/console/incidents', true);
  } else {
    show();
  }
}

function signedOut(note) {
  ctx.session = null;
  setSession('');
  document.getElementById('who').hidden = true;
  document.getElementById('nav').hidden = true;
  delete document.body.dataset.role;
  show();
  if (note) {
    const banner = document.getElementById('banner');
    replace(banner, note);
    banner.hidden = false;
  }
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try { await del('/session'); } catch (e) { /* the session is gone either way */ }
  history.replaceState(null, '', '/console/login');
  signedOut('Signed out.');
});

whenUnauthorized(() => { if (ctx.session) signedOut('Your session has ended: sign in again.'); });

async function start() {
  // A login link: /console/login#<code>. The code is redeemed here, not by
  // opening the link, so a mail scanner that opens it does not use it up.
  if (location.pathname === '/console/login' && location.hash.length > 1) {
    const code = decodeURIComponent(location.hash.slice(1));
    history.replaceState(null, '', '/console/login');
    try {
      signedIn(await post('/sessions', { login: code }));
      return;
    } catch (e) {
      signedOut(e.message);
      return;
    }
  }
  try {
    signedIn(await get('/session'));
  } catch (e) {
    signedOut(e.status === 401 ? '' : e.message);
  }
}

start();
