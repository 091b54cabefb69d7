// The sign-in page: a login link signs in by itself (app.js); here a user
// pastes a user token instead.

import { post } from '../api.js';
import { h, field, message } from '../dom.js';

export function signInView(main, ctx, signedIn) {
  document.title = 'Sign in · incident-server';
  const token = h('textarea', { name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false' });
  const status = h('p', { class: 'form-status', role: 'alert', hidden: true });
  const form = h('form', { class: 'panel signin', novalidate: true },
    h('h1', { text: 'Sign in' }),
    h('p', {}, 'Open the one-time login link you were given, or paste a user token. An admin mints links with ',
      h('code', { text: 'incident-server token create --login --user NAME --role ROLE' }), ' or in the API (',
      h('code', { text: 'POST /api/v1/login-links' }), ').'),
    field('User token', token, 'incident-server token create --user NAME --role ROLE prints one.'),
    h('button', { type: 'submit', class: 'primary', text: 'Sign in' }),
    status);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    message(status, '');
    if (!token.value.trim()) {
      message(status, 'Paste a token first.', true);
      token.focus();
      return;
    }
    try {
      signedIn(await post('/sessions', { token: token.value.trim() }));
    } catch (err) {
      message(status, err.message, true);
    }
  });
  main.append(form);
  token.focus();
}
