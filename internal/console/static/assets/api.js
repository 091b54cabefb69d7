// api.js: every call the console makes goes through here, to /api/v1,
// with the session cookie. Writes carry the session's CSRF token in
// X-CSRF-Token; the server refuses a write with the cookie but without it.

let csrf = '';
let onUnauthorized = () => {};

// setSession keeps the CSRF token of the signed-in session.
export function setSession(token) { csrf = token || ''; }

// whenUnauthorized sets what happens when the session has ended (401).
export function whenUnauthorized(f) { onUnauthorized = f; }

// APIError is a refused call: status, the error code and the server's message.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new APIError(0, 'unavailable', 'the server cannot be reached; check your connection');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && path !== '/sessions') onUnauthorized();
    throw new APIError(res.status, err.code || 'internal', err.message || res.statusText);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

// query builds "?a=1&b=2" from the non-empty entries of obj.
export function query(obj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}
