// live.js: a page's live feed. It opens GET /api/v1/stream as an
// EventSource (which reconnects by itself and resumes with Last-Event-ID)
// and hands each event to the page. When the server says live updates are
// off (Redis unreachable) or the feed is cut, the page reloads what it
// shows every few seconds instead, and a banner says so.

import { replace } from './dom.js';

export class Feed {
  // url: the stream; on: {eventName: handler(data, id)}; reload(): fetch
  // the page's data again (polling and after "reset"); poll: seconds.
  constructor(url, on, reload, poll) {
    this.url = url;
    this.on = on;
    this.reload = reload;
    this.poll = (poll || 5) * 1000;
    this.timer = null;
    this.live = null;
    this.ready = new Promise((resolve) => { this.markReady = resolve; });
  }

  start() {
    const es = new EventSource(typeof this.url === 'function' ? this.url() : this.url);
    this.es = es;
    es.addEventListener('mode', (e) => {
      const m = JSON.parse(e.data);
      this.poll = (m.poll_seconds || 5) * 1000;
      const was = this.live;
      this.setLive(m.live, m.live ? '' : `Live updates are paused (the server cannot reach Redis). This page refreshes every ${m.poll_seconds} s.`);
      if (was === false && m.live) this.reload();
      this.markReady();
    });
    es.addEventListener('reset', () => this.reload());
    for (const [name, handler] of Object.entries(this.on)) {
      es.addEventListener(name, (e) => handler(JSON.parse(e.data), e.lastEventId));
    }
    es.addEventListener('error', () => {
      if (this.stopped) return;
      this.setLive(false, 'Connection to the server lost; reconnecting. This page refreshes every few seconds meanwhile.');
      this.markReady();
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (signed out, incident gone): try
        // again later from scratch.
        setTimeout(() => { if (!this.stopped) this.start(); }, this.poll);
      }
    });
    return this;
  }

  setLive(live, text) {
    this.live = live;
    const banner = document.getElementById('banner');
    replace(banner, text);
    banner.hidden = !text;
    document.body.dataset.live = live ? 'on' : 'off';
    if (live && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    } else if (!live && !this.timer) {
      this.timer = setInterval(() => this.reload(), this.poll);
    }
  }

  stop() {
    this.stopped = true;
    if (this.es) this.es.close();
    if (this.timer) clearInterval(this.timer);
    const banner = document.getElementById('banner');
    banner.hidden = true;
  }
}
