// Herald admin dashboard — vanilla ES2020, no dependencies.
//
// Layout of this file:
//   1. constants & small utilities (DOM builder, formatting)
//   2. API helper (adds the bearer token, throws on non-2xx)
//   3. shared UI pieces (error banner, toasts, confirm dialog, badges, charts)
//   4. pages (overview, outbox, consumers, dlq, schemas, notifications, event journey)
//   5. router & boot
//
// All API data is inserted with textContent / setAttribute via h(); innerHTML is never used.
'use strict';

(() => {
  // ---------------------------------------------------------------------------
  // 1. Constants & utilities
  // ---------------------------------------------------------------------------

  const TOKEN_KEY = 'herald.token';
  const HISTORY_MS = 120_000;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const POLL = { overview: 1000, outbox: 2000, consumers: 2000, dlq: 3000, notifications: 3000, event: 3000 };

  /** Set attributes/properties/listeners on an element. */
  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'testid') el.setAttribute('data-testid', value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
      else if (key === 'value' || key === 'checked' || key === 'disabled' || key === 'selected') el[key] = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }

  function appendChildren(el, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) appendChildren(el, child);
      else if (child instanceof Node) el.appendChild(child);
      else el.appendChild(document.createTextNode(String(child)));
    }
  }

  /** Create an HTML element. Strings become text nodes (always escaped). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    appendChildren(el, children);
    return el;
  }

  /** Create an SVG element. */
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    appendChildren(el, children);
    return el;
  }

  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const oneDecFmt = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const axisFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

  function fmtInt(n) {
    return isNum(n) ? intFmt.format(n) : '—';
  }

  function fmtRate(n) {
    if (!isNum(n)) return '—';
    return n >= 100 ? intFmt.format(n) : oneDecFmt.format(n);
  }

  function fmtLatency(ms) {
    if (!isNum(ms)) return '—';
    if (ms < 1) return `${ms.toFixed(2)} ms`;
    if (ms < 1000) return `${oneDecFmt.format(ms)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  /** Age / duration in milliseconds → "120 ms", "4.2 s", "3 min 5 s", "2 h 3 min". */
  function fmtDuration(ms) {
    if (!isNum(ms)) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const sec = ms / 1000;
    if (sec < 60) return `${sec.toFixed(1)} s`;
    const min = Math.floor(sec / 60);
    if (min < 60) return `${min} min ${Math.floor(sec % 60)} s`;
    const hours = Math.floor(min / 60);
    if (hours < 48) return `${hours} h ${min % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function parseTime(value) {
    if (!value) return null;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  const pad2 = (n) => String(n).padStart(2, '0');

  function fmtClock(d) {
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  function fmtAbsolute(value) {
    const d = parseTime(value);
    if (!d) return value ? String(value) : '—';
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtClock(d)}`;
  }

  function fmtSpan(sec) {
    if (sec < 60) return `${sec} s`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min`;
    if (sec < 86400) return `${Math.floor(sec / 3600)} h`;
    return `${Math.floor(sec / 86400)} d`;
  }

  /** "3 s ago", "5 min ago", "just now", "in 2 h". */
  function relTime(value) {
    const d = parseTime(value);
    if (!d) return '—';
    const sec = Math.round((Date.now() - d.getTime()) / 1000);
    if (sec <= 0) return sec > -60 ? 'just now' : `in ${fmtSpan(-sec)}`;
    return `${fmtSpan(sec)} ago`;
  }

  /** A <time> element showing a relative time, with the absolute time as tooltip. */
  function timeEl(value) {
    if (!value) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: String(value), title: fmtAbsolute(value) }, relTime(value));
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === null || v === undefined || v === '' || v === false) continue;
      u.set(k, String(v));
    }
    const str = u.toString();
    return str ? `?${str}` : '';
  }

  /** Round a maximum up to 1/2/5 × 10^n for axis labels. */
  function niceMax(v) {
    if (!isNum(v) || v <= 0) return 1;
    const exp = 10 ** Math.floor(Math.log10(v));
    const f = v / exp;
    const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * exp;
  }

  function prettyJson(value) {
    if (typeof value === 'string') {
      try {
        return JSON.stringify(JSON.parse(value), null, 2);
      } catch {
        return value;
      }
    }
    return JSON.stringify(value, null, 2);
  }

  const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

  // ---------------------------------------------------------------------------
  // 2. API helper
  // ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
    }
  }

  function getToken() {
    try {
      return (localStorage.getItem(TOKEN_KEY) || '').trim();
    } catch {
      return '';
    }
  }

  function setToken(token) {
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* storage unavailable: token only lives for this page */
    }
  }

  /**
   * Fetch JSON from the Herald API. Adds the bearer token when one is set and
   * throws ApiError (with the server's `error` message) on any non-2xx answer.
   */
  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Accept: 'application/json' };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';

    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(`Network error: ${e.message || e}`, 0);
    }

    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) {
      const serverMsg = data && (data.error || data.message);
      const msg = serverMsg ? String(serverMsg) : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      throw new ApiError(msg, res.status);
    }
    if (text && data === null) throw new ApiError(`Invalid JSON from ${path}`, res.status);
    return data;
  }

  /** Human-readable message for a failed request, with special care for 401. */
  function describeError(err) {
    if (err && err.status === 401) {
      const detail = /^HTTP /.test(err.message) ? '' : `: ${err.message}`;
      return `Refused (401 Unauthorized)${detail}. Enter a valid API token in the “API token” field of the top bar.`;
    }
    if (err && err.status === 403) return `Refused (403 Forbidden): ${err.message}.`;
    return (err && err.message) || String(err);
  }

  // ---------------------------------------------------------------------------
  // 3. Shared UI pieces
  // ---------------------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);

  // --- error banner -----------------------------------------------------------

  function showError(err) {
    if (err && err.status === 401) flagTokenInvalid();
    const slot = $('#banner-slot');
    let banner = slot.querySelector('[data-testid="error-banner"]');
    if (!banner) {
      banner = h('div', { class: 'error-banner', role: 'alert', testid: 'error-banner' });
      slot.appendChild(banner);
    }
    banner.replaceChildren(
      h('strong', null, 'API request failed'),
      h('span', null, describeError(err)),
      h('span', { class: 'muted' }, `· retrying · ${fmtClock(new Date())}`),
    );
  }

  function clearError() {
    const banner = document.querySelector('[data-testid="error-banner"]');
    if (banner) banner.remove();
  }

  // --- toasts -------------------------------------------------------------------

  function toast(message, { kind = 'ok', testid = 'toast', timeout = 8000 } = {}) {
    const host = $('#toasts');
    host.querySelectorAll(`[data-testid="${testid}"]`).forEach((n) => n.remove());
    const el = h(
      'div',
      { class: `toast toast-${kind}`, role: kind === 'bad' ? 'alert' : 'status', testid },
      h('span', { class: 'toast-msg' }, message),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', title: 'Dismiss', onclick: () => el.remove() }),
    );
    host.appendChild(el);
    setTimeout(() => el.remove(), timeout);
    return el;
  }

  function flagTokenInvalid() {
    const input = $('#token-input');
    input.classList.add('invalid');
    input.setAttribute('aria-invalid', 'true');
  }

  // --- confirm dialog ---------------------------------------------------------

  let modal = null; // { overlay, onKey, busy }

  const modalOpen = () => modal !== null;

  function closeModal() {
    if (!modal) return;
    document.removeEventListener('keydown', modal.onKey);
    modal.overlay.remove();
    const restore = modal.returnFocus;
    modal = null;
    if (restore && document.contains(restore)) restore.focus();
  }

  /**
   * In-page confirmation dialog. `onConfirm` is awaited while the buttons are
   * disabled; it should handle its own errors. The dialog closes afterwards.
   */
  function openConfirm({ title, body, confirmLabel = 'Confirm', busyLabel = 'Working…', onConfirm, afterClose }) {
    closeModal();
    const cancelBtn = h('button', { type: 'button', class: 'btn', testid: 'confirm-cancel' }, 'Cancel');
    const okBtn = h('button', { type: 'button', class: 'btn btn-primary', testid: 'confirm-replay' }, confirmLabel);
    const dialog = h(
      'div',
      { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'dialog-title', testid: 'confirm-dialog' },
      h('h2', { id: 'dialog-title' }, title),
      h('div', { class: 'dialog-body' }, body),
      h('div', { class: 'dialog-actions' }, cancelBtn, okBtn),
    );
    const overlay = h('div', { class: 'overlay' }, dialog);
    const state = {
      overlay,
      busy: false,
      returnFocus: document.activeElement,
      onKey: (e) => {
        if (e.key === 'Escape' && !state.busy) closeModal();
      },
    };
    overlay.addEventListener('mousedown', (e) => {
      if (e.target === overlay && !state.busy) closeModal();
    });
    cancelBtn.addEventListener('click', () => {
      if (!state.busy) closeModal();
    });
    okBtn.addEventListener('click', async () => {
      if (state.busy) return;
      state.busy = true;
      okBtn.disabled = true;
      cancelBtn.disabled = true;
      okBtn.textContent = busyLabel;
      try {
        await onConfirm();
      } finally {
        if (modal === state) closeModal();
        if (afterClose) afterClose();
      }
    });
    modal = state;
    document.addEventListener('keydown', state.onKey);
    $('#modal-slot').appendChild(overlay);
    cancelBtn.focus();
  }

  // --- badges, page scaffolding -------------------------------------------------

  const TONES = {
    running: 'ok', sent: 'ok', delivered: 'ok', processed: 'ok', published: 'ok', healthy: 'ok', ok: 'ok', acked: 'ok',
    pending: 'warn', retrying: 'warn', sending: 'warn', lagging: 'warn', scheduled: 'warn', in_flight: 'warn',
    failed: 'bad', dead: 'bad', dead_lettered: 'bad', stopped: 'bad', error: 'bad', rejected: 'bad', expired: 'bad',
    replayed: 'info', committed: 'info', received: 'info', queued: 'info', created: 'info', retried: 'info',
  };

  function toneOf(status) {
    return TONES[String(status || '').toLowerCase()] || 'neutral';
  }

  function badge(text, tone, attrs) {
    return h('span', { ...attrs, class: `badge badge-${tone || toneOf(text)}` }, text == null ? '—' : String(text));
  }

  /** Page title row with an optional "last updated" indicator. */
  function pageHeader(title, subtitle, { updated = true, actions = null } = {}) {
    const updatedEl = updated ? h('span', { class: 'last-updated', testid: 'last-updated' }, 'Loading…') : null;
    const el = h(
      'div',
      { class: 'page-header' },
      h('div', null, h('h1', null, title), subtitle ? h('p', { class: 'subtitle' }, subtitle) : null),
      h('div', { class: 'page-header-side' }, actions, updatedEl),
    );
    return { el, updatedEl };
  }

  function markUpdated(el) {
    if (!el) return;
    const now = new Date();
    el.textContent = `Updated ${fmtClock(now)}`;
    el.setAttribute('title', now.toString());
    el.dataset.ts = String(now.getTime());
  }

  function card(title, attrs, ...children) {
    return h('section', { class: 'card', ...attrs }, title ? h('div', { class: 'card-head' }, title) : null, ...children);
  }

  /** A stat card; the value element carries the data-testid. */
  function statCard(label, testid, { href } = {}) {
    const value = h('div', { class: 'stat-value num', testid }, '—');
    const sub = h('div', { class: 'stat-sub' }, '\u00a0');
    const tag = href ? 'a' : 'div';
    const el = h(tag, { class: `card stat${href ? ' stat-link' : ''}`, href }, h('div', { class: 'stat-label' }, label), value, sub);
    return { el, value, sub };
  }

  function tableEl(testid, headers) {
    const tbody = h('tbody');
    const table = h(
      'table',
      { class: 'table', testid },
      h('thead', null, h('tr', null, headers.map((hd) => (typeof hd === 'string' ? h('th', null, hd) : h('th', hd.attrs, hd.label))))),
      tbody,
    );
    return { table, tbody, wrap: h('div', { class: 'table-wrap' }, table) };
  }

  function emptyRow(colspan, text) {
    return h('tr', { class: 'empty-row' }, h('td', { colspan }, text));
  }

  /** <code> for a value, or a muted dash when missing. */
  const codeOr = (v) => (v === null || v === undefined || v === '' ? h('span', { class: 'muted' }, '—') : h('code', null, String(v)));

  const numCell = (v, extra) => h('td', { class: `num${extra ? ` ${extra}` : ''}` }, fmtInt(v));

  // --- charts ---------------------------------------------------------------------

  function chartSize(host, height) {
    const width = Math.max(280, Math.floor(host.clientWidth || host.getBoundingClientRect().width || 600));
    return { W: width, H: height };
  }

  function gridAndYLabels(root, { pad, W, top, y }) {
    for (const f of [0, 0.5, 1]) {
      const v = top * f;
      const yy = y(v);
      root.appendChild(s('line', { x1: pad.l, x2: W - pad.r, y1: yy, y2: yy, class: f === 0 ? 'axis' : 'grid' }));
      root.appendChild(s('text', { x: pad.l - 8, y: yy + 4, 'text-anchor': 'end', class: `tick${f === 1 ? ' tick-max' : ''}` }, axisFmt.format(v)));
    }
  }

  /**
   * Live line chart of the last HISTORY_MS. points: [{t, v}] (t = ms epoch).
   * Redrawn from scratch each call so it visibly moves with the data.
   */
  function drawLineChart(host, points, { now = Date.now(), tone = 'blue', label = '' } = {}) {
    const { W, H } = chartSize(host, 200);
    const pad = { l: 52, r: 16, t: 14, b: 26 };
    const iw = W - pad.l - pad.r;
    const ih = H - pad.t - pad.b;
    const t0 = now - HISTORY_MS;
    const visible = points.filter((p) => p.t >= t0);
    const peak = visible.reduce((m, p) => Math.max(m, p.v), 0);
    const top = niceMax(peak);
    const x = (t) => pad.l + Math.min(1, Math.max(0, (t - t0) / HISTORY_MS)) * iw;
    const y = (v) => pad.t + (1 - v / top) * ih;

    const root = s('svg', {
      class: `chart-svg tone-${tone}`,
      viewBox: `0 0 ${W} ${H}`,
      width: W,
      height: H,
      role: 'img',
      'aria-label': `${label}: last 120 seconds, peak ${axisFmt.format(peak)}`,
    });
    gridAndYLabels(root, { pad, W, top, y });
    const xTicks = [
      [t0, '−120 s', 'start'],
      [now - 60_000, '−60 s', 'middle'],
      [now, 'now', 'end'],
    ];
    for (const [t, text, anchor] of xTicks) {
      root.appendChild(s('text', { x: x(t), y: H - 6, 'text-anchor': anchor, class: 'tick' }, text));
    }

    if (visible.length === 0) {
      root.appendChild(s('text', { x: pad.l + iw / 2, y: pad.t + ih / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'Collecting data…'));
    } else {
      const coords = visible.map((p) => [x(p.t), y(p.v)]);
      const line = coords.map(([cx, cy], i) => `${i ? 'L' : 'M'}${cx.toFixed(1)},${cy.toFixed(1)}`).join(' ');
      const base = y(0).toFixed(1);
      const first = coords[0];
      const last = coords[coords.length - 1];
      root.appendChild(s('path', { class: 'area', d: `${line} L${last[0].toFixed(1)},${base} L${first[0].toFixed(1)},${base} Z` }));
      root.appendChild(s('path', { class: 'line', d: line }));
      root.appendChild(s('circle', { class: 'dot', cx: last[0], cy: last[1], r: 3.5 }));
    }
    host.replaceChildren(root);
    const lastVal = visible.length ? visible[visible.length - 1].v : null;
    host.dataset.points = String(visible.length);
    host.dataset.max = String(top);
    host.dataset.peak = String(peak);
    host.dataset.last = lastVal === null ? '' : String(lastVal);
    return { peak, last: lastVal };
  }

  /** Vertical bar chart. items: [{label, value, title}] */
  function drawBarChart(host, items, { tone = 'blue', barTestid = null, emptyText = 'No data' } = {}) {
    const { W, H } = chartSize(host, 200);
    const pad = { l: 52, r: 12, t: 14, b: 28 };
    const iw = W - pad.l - pad.r;
    const ih = H - pad.t - pad.b;
    const peak = items.reduce((m, it) => Math.max(m, isNum(it.value) ? it.value : 0), 0);
    const top = niceMax(peak);
    const y = (v) => pad.t + (1 - v / top) * ih;
    const root = s('svg', { class: `chart-svg tone-${tone}`, viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `Bar chart, peak ${axisFmt.format(peak)}` });
    gridAndYLabels(root, { pad, W, top, y });

    if (items.length === 0) {
      root.appendChild(s('text', { x: pad.l + iw / 2, y: pad.t + ih / 2, 'text-anchor': 'middle', class: 'chart-empty' }, emptyText));
    }
    const slot = items.length ? iw / items.length : iw;
    const bw = Math.max(1, Math.min(48, slot * 0.7));
    const labelEvery = Math.max(1, Math.ceil(22 / slot));
    items.forEach((it, i) => {
      const v = isNum(it.value) ? it.value : 0;
      const cx = pad.l + slot * i + slot / 2;
      const top_ = y(v);
      const hgt = Math.max(v > 0 ? 1.5 : 0, y(0) - top_);
      root.appendChild(
        s(
          'rect',
          { class: 'bar', x: (cx - bw / 2).toFixed(1), y: (y(0) - hgt).toFixed(1), width: bw.toFixed(1), height: hgt.toFixed(1), rx: 2, testid: barTestid, 'data-label': it.label, 'data-value': v },
          s('title', null, it.title || `${it.label}: ${fmtInt(v)}`),
        ),
      );
      if (i % labelEvery === 0) {
        root.appendChild(s('text', { x: cx, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, it.label));
      }
    });
    host.replaceChildren(root);
    host.dataset.max = String(top);
    host.dataset.peak = String(peak);
  }

  /** Horizontal stacked bar made of flex segments. parts: [{key, value}] */
  function stackedBar(parts, { testid, segmentTestid }) {
    const total = parts.reduce((sum, p) => sum + (isNum(p.value) ? p.value : 0), 0);
    const bar = h('div', { class: 'stacked', testid, role: 'img', 'aria-label': parts.map((p) => `${p.key}: ${p.value}`).join(', ') });
    if (total === 0) bar.appendChild(h('div', { class: 'stacked-empty' }, 'No data'));
    for (const p of parts) {
      if (!isNum(p.value) || p.value <= 0) continue;
      bar.appendChild(
        h('div', {
          class: `segment seg-${toneOf(p.key)}`,
          style: { flexGrow: String(p.value) },
          title: `${p.key}: ${fmtInt(p.value)} (${((p.value / total) * 100).toFixed(1)}%)`,
          testid: segmentTestid,
          'data-status': p.key,
          'data-value': p.value,
        }),
      );
    }
    const legend = h(
      'div',
      { class: 'legend' },
      parts.map((p) => h('span', { class: 'legend-item', 'data-status': p.key }, h('span', { class: `swatch seg-${toneOf(p.key)}` }), `${p.key} `, h('strong', { class: 'num' }, fmtInt(p.value)))),
    );
    return h('div', { class: 'stacked-wrap' }, bar, legend);
  }

  function meterEl(value, max, tone) {
    const pct = isNum(value) && max > 0 ? Math.min(100, (value / max) * 100) : 0;
    return h('div', { class: 'meter', title: isNum(value) ? fmtInt(value) : 'unknown' }, h('div', { class: `meter-fill seg-${tone}`, style: { width: `${pct}%` } }));
  }

  // ---------------------------------------------------------------------------
  // Page context & polling
  // ---------------------------------------------------------------------------

  /** Each rendered page gets a context; disposing it stops its timers/listeners. */
  function newContext() {
    const disposers = [];
    return {
      alive: true,
      onDispose(fn) {
        disposers.push(fn);
      },
      listen(target, type, fn) {
        target.addEventListener(type, fn);
        disposers.push(() => target.removeEventListener(type, fn));
      },
      dispose() {
        this.alive = false;
        disposers.splice(0).forEach((fn) => fn());
      },
    };
  }

  /**
   * Run `fn` now and then every `ms` after each completion (never overlapping).
   * Errors show the banner; a success clears it. Returns a "refresh now" function.
   */
  function poll(ctx, fn, ms, shouldSkip) {
    let timer = null;
    let busy = false;
    let again = false;
    async function tick() {
      timer = null;
      if (!ctx.alive) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        if (!shouldSkip || !shouldSkip()) {
          await fn();
          if (ctx.alive) clearError();
        }
      } catch (err) {
        if (ctx.alive) showError(err);
      }
      busy = false;
      if (!ctx.alive) return;
      const delay = again ? 0 : ms;
      again = false;
      timer = setTimeout(tick, delay);
    }
    ctx.onDispose(() => clearTimeout(timer));
    tick();
    return () => {
      if (timer) clearTimeout(timer);
      tick();
    };
  }

  // ---------------------------------------------------------------------------
  // 4. Pages
  // ---------------------------------------------------------------------------

  // --- overview -----------------------------------------------------------------

  /** Kept across navigation so charts keep their history. */
  const ovHistory = { lastTotal: null, lastAt: 0, rate: null, throughput: [], pending: [] };

  function recordOverview(data, now) {
    const total = data.relay && data.relay.published_total;
    if (isNum(total)) {
      if (ovHistory.lastTotal === null || total < ovHistory.lastTotal) {
        ovHistory.lastTotal = total; // first sample or counter reset: new baseline
        ovHistory.lastAt = now;
      } else if (now - ovHistory.lastAt >= 200) {
        ovHistory.rate = (total - ovHistory.lastTotal) / ((now - ovHistory.lastAt) / 1000);
        ovHistory.throughput.push({ t: now, v: ovHistory.rate });
        ovHistory.lastTotal = total;
        ovHistory.lastAt = now;
      }
    }
    const pending = data.outbox && data.outbox.pending;
    if (isNum(pending)) ovHistory.pending.push({ t: now, v: pending });
    const cutoff = now - HISTORY_MS - 5000;
    for (const series of [ovHistory.throughput, ovHistory.pending]) {
      while (series.length && series[0].t < cutoff) series.shift();
    }
  }

  function sortedConsumers(list) {
    return (Array.isArray(list) ? list.slice() : []).sort((a, b) => String(a.service).localeCompare(String(b.service)));
  }

  function lagCell(lag) {
    if (lag === null || lag === undefined) return h('td', { class: 'num' }, h('span', { class: 'muted', title: 'Lag is unknown for this transport' }, 'unknown'));
    return h('td', { class: `num${lag > 0 ? ' warn-text' : ''}` }, fmtInt(lag));
  }

  function deadLetterCell(n) {
    return h('td', { class: 'num' }, n > 0 ? h('a', { href: '#/dlq', class: 'badge badge-bad num' }, fmtInt(n)) : h('span', { class: 'muted' }, fmtInt(n)));
  }

  function fillConsumersTable(tbody, consumers) {
    if (consumers.length === 0) {
      tbody.replaceChildren(emptyRow(4, 'No consumers have reported yet.'));
      return;
    }
    tbody.replaceChildren(
      ...consumers.map((c) =>
        h(
          'tr',
          { testid: 'consumer-row', 'data-service': c.service },
          h('td', null, h('strong', null, c.service)),
          numCell(c.processed_total),
          lagCell(c.lag),
          deadLetterCell(c.dead_letters),
        ),
      ),
    );
  }

  function chartCard(title, testid, unitText) {
    const host = h('div', { class: 'chart', testid });
    const readout = h('span', { class: 'chart-readout num' }, '');
    const el = card(h('div', { class: 'card-title-row' }, h('span', null, title, h('span', { class: 'unit' }, unitText)), readout), { class: 'card chart-card' }, host);
    return { el, host, readout };
  }

  function renderOverview(ctx, main) {
    const head = pageHeader('Overview', 'Live health of the relay, outbox, consumers and dead-letter queue.');
    const relayValue = h('span', { class: 'badge badge-neutral', testid: 'relay-status' }, '…');
    const relaySub = h('div', { class: 'stat-sub' }, '\u00a0');
    const relayCard = h('div', { class: 'card stat' }, h('div', { class: 'stat-label' }, 'Relay'), h('div', { class: 'stat-value' }, relayValue), relaySub);

    const st = {
      throughput: statCard('Published / s', 'stat-throughput'),
      pending: statCard('Outbox pending', 'stat-outbox-pending', { href: '#/outbox' }),
      age: statCard('Oldest unsent', 'stat-outbox-age', { href: '#/outbox' }),
      dlq: statCard('DLQ depth', 'stat-dlq-depth', { href: '#/dlq' }),
      p99: statCard('p99 latency', 'stat-latency-p99'),
    };
    const tput = chartCard('Throughput', 'chart-throughput', 'events/s');
    const outboxChart = chartCard('Outbox pending', 'chart-outbox', 'events');
    const consumers = tableEl('consumers-table', ['Service', { label: 'Processed', attrs: { class: 'num' } }, { label: 'Lag', attrs: { class: 'num' } }, { label: 'Dead letters', attrs: { class: 'num' } }]);
    const systemList = h('dl', { class: 'kv', testid: 'system-info' });

    main.append(
      head.el,
      h('div', { class: 'stats' }, st.throughput.el, st.pending.el, st.age.el, st.dlq.el, st.p99.el, relayCard),
      h('div', { class: 'grid-2' }, tput.el, outboxChart.el),
      h(
        'div',
        { class: 'grid-main-side' },
        card(h('div', { class: 'card-title-row' }, h('span', null, 'Consumers'), h('a', { href: '#/consumers', class: 'card-link' }, 'Details →')), null, consumers.wrap),
        card('System', null, systemList),
      ),
    );

    let last = null;
    const redraw = () => {
      const now = Date.now();
      const t = drawLineChart(tput.host, ovHistory.throughput, { now, tone: 'blue', label: 'Throughput' });
      tput.readout.textContent = `now ${fmtRate(t.last)} · peak ${fmtRate(t.peak)}`;
      const o = drawLineChart(outboxChart.host, ovHistory.pending, { now, tone: 'amber', label: 'Outbox pending' });
      outboxChart.readout.textContent = `now ${fmtInt(o.last)} · peak ${fmtInt(o.peak)}`;
    };
    ctx.listen(window, 'resize', () => last && redraw());

    poll(
      ctx,
      async () => {
        const data = await api('/api/overview');
        if (!ctx.alive) return;
        last = data;
        recordOverview(data, Date.now());
        updateOverviewStats(st, { relayValue, relaySub }, data);
        fillConsumersTable(consumers.tbody, sortedConsumers(data.consumers));
        fillSystemInfo(systemList, data);
        redraw();
        markUpdated(head.updatedEl);
      },
      POLL.overview,
    );
  }

  function updateOverviewStats(st, relay, data) {
    const outbox = data.outbox || {};
    const relayInfo = data.relay || {};
    const dlq = data.dlq || {};
    const lat = data.latency_ms;

    st.throughput.value.textContent = fmtRate(ovHistory.rate);
    st.throughput.sub.textContent = ovHistory.rate === null ? 'measuring…' : `${fmtInt(relayInfo.published_total)} published in total`;

    st.pending.value.textContent = fmtInt(outbox.pending);
    st.pending.value.classList.toggle('warn-text', outbox.pending > 0);
    const parts = Array.isArray(outbox.partitions) ? outbox.partitions.filter((p) => p.pending > 0).length : 0;
    st.pending.sub.textContent = `${plural(parts, 'partition')} with backlog`;

    st.age.value.textContent = outbox.pending > 0 || isNum(outbox.oldest_age_ms) ? fmtDuration(outbox.oldest_age_ms) : '—';
    st.age.sub.textContent = outbox.pending > 0 ? 'oldest event not yet published' : 'nothing waiting';

    st.dlq.value.textContent = fmtInt(dlq.depth);
    st.dlq.value.classList.toggle('bad-text', dlq.depth > 0);
    const bySvc = Object.entries(dlq.by_service || {}).filter(([, n]) => n > 0);
    st.dlq.sub.textContent = bySvc.length ? bySvc.map(([svc, n]) => `${svc} ${fmtInt(n)}`).join(' · ') : 'no dead letters';

    if (lat && isNum(lat.p99)) {
      st.p99.value.textContent = fmtLatency(lat.p99);
      st.p99.sub.textContent = `p50 ${fmtLatency(lat.p50)} · max ${fmtLatency(lat.max)}`;
    } else {
      st.p99.value.textContent = '—';
      st.p99.sub.textContent = 'no events observed yet';
    }

    const running = relayInfo.running === true;
    relay.relayValue.textContent = running ? 'running' : 'stopped';
    relay.relayValue.className = `badge badge-lg badge-${running ? 'ok' : 'bad'}`;
    relay.relayValue.dataset.running = String(running);
    relay.relaySub.textContent = `${plural(relayInfo.partitions_held || 0, 'partition')} held`;
  }

  function fillSystemInfo(dl, data) {
    const rows = [
      ['Version', data.version],
      ['Database', data.database],
      ['Transport', data.transport],
      ['Events published', fmtInt(data.relay && data.relay.published_total)],
      ['Schema subjects', h('a', { href: '#/schemas' }, fmtInt(data.schemas && data.schemas.subjects))],
      [
        'Notifications',
        h(
          'a',
          { href: '#/notifications', class: 'badge-row' },
          Object.entries((data.notifications && data.notifications.by_status) || {}).map(([k, v]) => badge(`${k} ${fmtInt(v)}`, toneOf(k))),
        ),
      ],
      ['Server time', data.time ? fmtAbsolute(data.time) : '—'],
    ];
    dl.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v === undefined || v === null ? '—' : v)]));
  }

  // --- outbox -------------------------------------------------------------------

  function renderOutbox(ctx, main) {
    const head = pageHeader('Outbox', 'Events committed by services but not yet published by the relay.');
    const st = {
      pending: statCard('Pending', 'outbox-pending'),
      age: statCard('Oldest unsent', 'outbox-age'),
      parts: statCard('Partitions with backlog', 'outbox-partitions'),
    };
    const chartHost = h('div', { class: 'chart', testid: 'outbox-chart' });
    const tbl = tableEl('outbox-table', [{ label: 'Partition', attrs: { class: 'num' } }, { label: 'Pending', attrs: { class: 'num' } }, 'Share', { label: 'Oldest unsent', attrs: { class: 'num' } }]);
    main.append(
      head.el,
      h('div', { class: 'stats stats-3' }, st.pending.el, st.age.el, st.parts.el),
      card(h('div', { class: 'card-title-row' }, h('span', null, 'Pending per partition')), { class: 'card chart-card' }, chartHost),
      card('Partitions', null, tbl.wrap),
    );

    let last = null;
    const draw = () => {
      const parts = last.parts;
      drawBarChart(
        chartHost,
        parts.map((p) => ({ label: String(p.partition), value: p.pending, title: `Partition ${p.partition}: ${fmtInt(p.pending)} pending` })),
        { tone: 'amber', barTestid: 'outbox-bar', emptyText: 'No partitions reported' },
      );
    };
    ctx.listen(window, 'resize', () => last && draw());

    poll(
      ctx,
      async () => {
        const data = await api('/api/outbox');
        if (!ctx.alive) return;
        const parts = (Array.isArray(data.partitions) ? data.partitions.slice() : []).sort((a, b) => a.partition - b.partition);
        last = { data, parts };
        st.pending.value.textContent = fmtInt(data.pending);
        st.pending.sub.textContent = 'events waiting for the relay';
        st.age.value.textContent = data.pending > 0 || isNum(data.oldest_age_ms) ? fmtDuration(data.oldest_age_ms) : '—';
        st.age.sub.textContent = data.pending > 0 ? 'age of the oldest pending event' : 'nothing waiting';
        const backlog = parts.filter((p) => p.pending > 0).length;
        st.parts.value.textContent = `${fmtInt(backlog)} / ${fmtInt(parts.length)}`;
        st.parts.sub.textContent = 'partitions with pending events';
        draw();
        const max = parts.reduce((m, p) => Math.max(m, p.pending || 0), 0);
        tbl.tbody.replaceChildren(
          ...(parts.length
            ? parts.map((p) =>
                h(
                  'tr',
                  { testid: 'outbox-row', 'data-partition': p.partition },
                  numCell(p.partition),
                  numCell(p.pending, p.pending > 0 ? 'warn-text' : ''),
                  h('td', { class: 'meter-cell' }, meterEl(p.pending, max, 'warn')),
                  h('td', { class: 'num' }, p.pending > 0 || isNum(p.oldest_age_ms) ? fmtDuration(p.oldest_age_ms) : '—'),
                ),
              )
            : [emptyRow(4, 'No partitions reported.')]),
        );
        markUpdated(head.updatedEl);
      },
      POLL.outbox,
    );
  }

  // --- consumers ----------------------------------------------------------------

  function renderConsumers(ctx, main) {
    const head = pageHeader('Consumers', 'Processing progress, lag and dead letters per consuming service.');
    const st = {
      count: statCard('Consumers', 'consumers-count'),
      lag: statCard('Total lag', 'consumers-total-lag'),
      dead: statCard('Dead letters', 'consumers-dead-letters', { href: '#/dlq' }),
    };
    const tbl = tableEl('consumers-table', [
      'Service',
      { label: 'Processed', attrs: { class: 'num' } },
      { label: 'Lag', attrs: { class: 'num' } },
      'Lag (relative)',
      { label: 'Dead letters', attrs: { class: 'num' } },
      '',
    ]);
    main.append(head.el, h('div', { class: 'stats stats-3' }, st.count.el, st.lag.el, st.dead.el), card('Consumers', null, tbl.wrap));

    poll(
      ctx,
      async () => {
        const data = await api('/api/overview');
        if (!ctx.alive) return;
        const list = sortedConsumers(data.consumers);
        const known = list.filter((c) => isNum(c.lag));
        const maxLag = known.reduce((m, c) => Math.max(m, c.lag), 0);
        st.count.value.textContent = fmtInt(list.length);
        st.count.sub.textContent = 'services consuming events';
        st.lag.value.textContent = known.length ? fmtInt(known.reduce((a, c) => a + c.lag, 0)) : '—';
        st.lag.sub.textContent = known.length < list.length ? `${list.length - known.length} with unknown lag` : 'events behind, all consumers';
        const dead = list.reduce((a, c) => a + (c.dead_letters || 0), 0);
        st.dead.value.textContent = fmtInt(dead);
        st.dead.value.classList.toggle('bad-text', dead > 0);
        st.dead.sub.textContent = 'across all consumers';

        if (list.length === 0) {
          tbl.tbody.replaceChildren(emptyRow(6, 'No consumers have reported yet.'));
        } else {
          tbl.tbody.replaceChildren(
            ...list.map((c) =>
              h(
                'tr',
                { testid: 'consumer-row', 'data-service': c.service },
                h('td', null, h('strong', null, c.service)),
                numCell(c.processed_total),
                lagCell(c.lag),
                h('td', { class: 'meter-cell' }, isNum(c.lag) ? meterEl(c.lag, maxLag, c.lag > 0 ? 'warn' : 'ok') : h('span', { class: 'muted small' }, 'n/a for this broker')),
                deadLetterCell(c.dead_letters),
                h('td', { class: 'actions' }, h('a', { href: `#/dlq${qs({ service: c.service })}`, class: 'card-link' }, 'DLQ →')),
              ),
            ),
          );
        }
        markUpdated(head.updatedEl);
      },
      POLL.consumers,
    );
  }

  // --- dead-letter queue ------------------------------------------------------------

  /** Filter survives navigation; `#/dlq?service=x` pre-fills it. */
  const dlqFilter = { service: '', type: '', key: '', error: '', include_replayed: false };

  function dlqQuery() {
    return qs({
      service: dlqFilter.service,
      type: dlqFilter.type,
      key: dlqFilter.key,
      error: dlqFilter.error,
      include_replayed: dlqFilter.include_replayed ? 'true' : '',
    });
  }

  function replayMessage(res) {
    const replayed = (res && res.replayed) || [];
    const over = (res && res.over_limit) || [];
    const failed = (res && res.failed) || [];
    const parts = [replayed.length ? `Replayed ${plural(replayed.length, 'event')}` : 'Nothing was replayed'];
    if (over.length) parts.push(`${plural(over.length, 'event')} over the replay limit`);
    if (failed.length) parts.push(`${plural(failed.length, 'event')} failed`);
    return { text: parts.join(' · '), kind: failed.length || over.length ? 'warn' : replayed.length ? 'ok' : 'warn' };
  }

  /** POST a replay request and report the outcome; never throws. */
  async function runReplay(body) {
    try {
      const res = await api('/api/dlq/replay', { method: 'POST', body });
      const { text, kind } = replayMessage(res);
      toast(text, { kind, testid: 'replay-result' });
    } catch (err) {
      if (err.status === 401) flagTokenInvalid();
      toast(describeError(err), { kind: 'bad', testid: 'replay-result', timeout: 12000 });
    }
  }

  function isDead(entry) {
    return String(entry.status || '').toLowerCase() === 'dead';
  }

  function confirmReplayOne(entry, refresh) {
    openConfirm({
      title: 'Replay this event?',
      body: [
        h('p', null, 'Replay ', h('strong', null, entry.event_type || 'event'), ' ', h('code', null, entry.event_id), ' to ', h('strong', null, entry.service), '?'),
        h('p', { class: 'muted small' }, `It failed ${plural(entry.attempts || 0, 'attempt')} with “${entry.reason || 'error'}”. The handler will receive it again.`),
      ],
      confirmLabel: 'Replay',
      busyLabel: 'Replaying…',
      onConfirm: () => runReplay({ id: entry.id }),
      afterClose: refresh,
    });
  }

  function filterBody() {
    const body = {};
    for (const k of ['service', 'type', 'key', 'error']) if (dlqFilter[k]) body[k] = dlqFilter[k];
    return body;
  }

  function describeFilter(body) {
    const parts = Object.entries(body).map(([k, v]) => `${k} = “${v}”`);
    return parts.length ? parts.join(', ') : null;
  }

  async function confirmReplayMatching(refresh) {
    const body = filterBody();
    let preview;
    try {
      preview = await api('/api/dlq/replay', { method: 'POST', body: { ...body, all: true, dry_run: true } });
    } catch (err) {
      if (err.status === 401) flagTokenInvalid();
      toast(describeError(err), { kind: 'bad', testid: 'replay-result', timeout: 12000 });
      return;
    }
    const n = ((preview && preview.replayed) || []).length;
    const over = ((preview && preview.over_limit) || []).length;
    if (n === 0) {
      toast(over ? `No events can be replayed: ${plural(over, 'event')} over the replay limit` : 'No dead events match the filter', { kind: 'warn', testid: 'replay-result' });
      return;
    }
    const desc = describeFilter(body);
    openConfirm({
      title: `Replay ${plural(n, 'event')}?`,
      body: [
        h('p', null, desc ? ['Replay all dead events matching ', h('strong', null, desc), '.'] : h('strong', null, 'No filter is set: this replays ALL dead events.')),
        h('p', { class: 'muted small' }, `Dry run: ${plural(n, 'event')} would be replayed${over ? `, ${fmtInt(over)} skipped (over the replay limit)` : ''}.`),
      ],
      confirmLabel: 'Replay',
      busyLabel: 'Replaying…',
      onConfirm: () => runReplay({ ...body, all: true }),
      afterClose: refresh,
    });
  }

  function dlqRow(entry, { selected, onSelect, onReplay }) {
    const replayBtn = isDead(entry)
      ? h(
          'button',
          {
            type: 'button',
            class: 'btn btn-sm',
            testid: 'dlq-replay',
            onclick: (e) => {
              e.stopPropagation();
              onReplay(entry);
            },
          },
          'Replay',
        )
      : null;
    return h(
      'tr',
      {
        testid: 'dlq-row',
        'data-event-id': entry.event_id,
        'data-id': entry.id,
        'data-status': entry.status,
        class: `clickable${selected ? ' selected' : ''}`,
        tabindex: '0',
        onclick: () => onSelect(entry),
        onkeydown: (e) => {
          if (e.key === 'Enter' && e.target === e.currentTarget) onSelect(entry);
        },
      },
      h('td', null, h('strong', null, entry.service)),
      h('td', null, h('code', { class: 'wrap' }, entry.event_type)),
      h('td', null, h('code', null, entry.partition_key == null ? '—' : entry.partition_key)),
      h('td', null, entry.reason),
      h('td', { class: 'error-cell', title: entry.error || '' }, entry.error || '—'),
      numCell(entry.attempts),
      h('td', { class: 'nowrap' }, timeEl(entry.last_failed_at)),
      h('td', null, badge(entry.status)),
      h('td', { class: 'actions' }, replayBtn),
    );
  }

  function dlqDetail(entry, full, { onClose, onReplay }) {
    const src = full || entry;
    const kv = [
      ['Event id', h('a', { href: `#/events/${encodeURIComponent(src.event_id)}`, testid: 'dlq-event-link' }, h('code', null, src.event_id))],
      ['DLQ id', codeOr(src.id)],
      ['Service', src.service],
      ['Handler', src.handler],
      ['Event type', codeOr(src.event_type)],
      ['Routing key', codeOr(src.routing_key)],
      ['Partition key', codeOr(src.partition_key)],
      ['Reason', src.reason],
      ['Attempts', fmtInt(src.attempts)],
      ['Replays', fmtInt(src.replays)],
      ['First failed', h('span', null, fmtAbsolute(src.first_failed_at), ' ', h('span', { class: 'muted' }, `(${relTime(src.first_failed_at)})`))],
      ['Last failed', h('span', null, fmtAbsolute(src.last_failed_at), ' ', h('span', { class: 'muted' }, `(${relTime(src.last_failed_at)})`))],
      ['Status', badge(src.status)],
    ];
    const jsonBlock = full
      ? full.event === undefined || full.event === null
        ? h('p', { class: 'muted' }, 'The stored event is not available.')
        : h('pre', { class: 'code', testid: 'dlq-detail-json' }, prettyJson(full.event))
      : h('p', { class: 'muted' }, 'Loading event…');
    return h(
      'section',
      { class: 'card detail', testid: 'dlq-detail', 'data-event-id': src.event_id },
      h(
        'div',
        { class: 'card-title-row' },
        h('span', null, 'Dead letter'),
        h(
          'span',
          { class: 'btn-row' },
          isDead(src) ? h('button', { type: 'button', class: 'btn btn-sm btn-primary', onclick: () => onReplay(src) }, 'Replay…') : null,
          h('button', { type: 'button', class: 'btn btn-sm', 'aria-label': 'Close details', testid: 'dlq-detail-close', onclick: onClose }, 'Close'),
        ),
      ),
      h('dl', { class: 'kv' }, kv.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v === undefined || v === null || v === '' ? '—' : v)])),
      src.error ? [h('div', { class: 'section-label' }, 'Error'), h('pre', { class: 'code code-error' }, String(src.error))] : null,
      h('div', { class: 'section-label' }, 'Event (CloudEvent)'),
      jsonBlock,
    );
  }

  function renderDlq(ctx, main, { query }) {
    for (const k of ['service', 'type', 'key', 'error']) if (query.has(k)) dlqFilter[k] = query.get(k) || '';
    if (query.has('include_replayed')) dlqFilter.include_replayed = query.get('include_replayed') === 'true';

    const head = pageHeader('Dead-letter queue', 'Events a consumer gave up on. Inspect, fix the cause, then replay.');
    const input = (name, label, placeholder) =>
      h('label', { class: 'field' }, h('span', null, label), h('input', { type: 'search', name, value: dlqFilter[name], placeholder, testid: `dlq-filter-${name}`, autocomplete: 'off' }));
    const includeBox = h('input', { type: 'checkbox', name: 'include_replayed', checked: dlqFilter.include_replayed, testid: 'dlq-include-replayed' });
    const form = h(
      'form',
      { class: 'card filters', testid: 'dlq-filters' },
      input('service', 'Service', 'e.g. inventory'),
      input('type', 'Event type', 'e.g. shop.order_placed'),
      input('key', 'Key', 'partition key'),
      input('error', 'Error text', 'contains…'),
      h('label', { class: 'check' }, includeBox, h('span', null, 'Include replayed')),
      h(
        'div',
        { class: 'btn-row' },
        h('button', { type: 'submit', class: 'btn btn-primary', testid: 'dlq-apply' }, 'Apply'),
        h('button', { type: 'button', class: 'btn', testid: 'dlq-clear', onclick: () => clearFilters() }, 'Clear'),
      ),
    );
    const countEl = h('span', { class: 'muted num', testid: 'dlq-count' }, '');
    const replayAllBtn = h('button', { type: 'button', class: 'btn btn-sm', testid: 'dlq-replay-all', onclick: () => confirmReplayMatching(afterReplay) }, 'Replay all matching…');
    const tbl = tableEl('dlq-table', ['Service', 'Type', 'Key', 'Reason', 'Error', { label: 'Attempts', attrs: { class: 'num' } }, 'Last failure', 'Status', '']);
    const detailSlot = h('div', { class: 'detail-slot' });
    const layout = h(
      'div',
      { class: 'split' },
      card(h('div', { class: 'card-title-row' }, h('span', null, 'Entries ', countEl), replayAllBtn), { class: 'card' }, tbl.wrap),
      detailSlot,
    );
    main.append(head.el, form, layout);

    let selectedId = null;
    let lastEntries = [];

    const readForm = () => {
      for (const k of ['service', 'type', 'key', 'error']) dlqFilter[k] = form.elements[k].value.trim();
      dlqFilter.include_replayed = includeBox.checked;
    };
    const clearFilters = () => {
      for (const k of ['service', 'type', 'key', 'error']) form.elements[k].value = '';
      includeBox.checked = false;
      readForm();
      refresh();
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      readForm();
      refresh();
    });
    includeBox.addEventListener('change', () => {
      readForm();
      refresh();
    });

    const closeDetail = () => {
      selectedId = null;
      detailSlot.replaceChildren();
      layout.classList.remove('has-detail');
      renderRows();
    };
    // After a replay: reload the list now, and the open detail (its status changed).
    const afterReplay = () => {
      refresh();
      const sel = lastEntries.find((e) => e.id === selectedId);
      if (sel) select(sel);
    };
    const onReplay = (entry) => confirmReplayOne(entry, afterReplay);

    const select = async (entry) => {
      selectedId = entry.id;
      renderRows();
      layout.classList.add('has-detail');
      detailSlot.replaceChildren(dlqDetail(entry, null, { onClose: closeDetail, onReplay }));
      try {
        const full = await api(`/api/dlq/${encodeURIComponent(entry.id)}`);
        if (!ctx.alive || selectedId !== entry.id) return;
        detailSlot.replaceChildren(dlqDetail(entry, full, { onClose: closeDetail, onReplay }));
      } catch (err) {
        if (!ctx.alive || selectedId !== entry.id) return;
        const panel = dlqDetail(entry, null, { onClose: closeDetail, onReplay });
        panel.appendChild(h('div', { class: 'inline-error', role: 'alert' }, `Could not load event: ${describeError(err)}`));
        detailSlot.replaceChildren(panel);
      }
    };

    function renderRows() {
      if (lastEntries.length === 0) {
        const filtered = describeFilter(filterBody());
        tbl.tbody.replaceChildren(emptyRow(9, filtered ? 'No dead letters match this filter.' : 'The dead-letter queue is empty.'));
        return;
      }
      tbl.tbody.replaceChildren(...lastEntries.map((e) => dlqRow(e, { selected: e.id === selectedId, onSelect: select, onReplay })));
    }

    const refresh = poll(
      ctx,
      async () => {
        const data = await api(`/api/dlq${dlqQuery()}`);
        if (!ctx.alive) return;
        lastEntries = Array.isArray(data.entries) ? data.entries : [];
        countEl.textContent = `(${fmtInt(lastEntries.length)})`;
        replayAllBtn.disabled = !lastEntries.some(isDead);
        renderRows();
        markUpdated(head.updatedEl);
      },
      POLL.dlq,
      modalOpen,
    );
  }

  // --- schemas ------------------------------------------------------------------

  function renderSchemas(ctx, main) {
    const refreshBtn = h('button', { type: 'button', class: 'btn btn-sm', testid: 'schemas-refresh' }, 'Refresh');
    const head = pageHeader('Schemas', 'Subjects registered in the schema registry.', { actions: refreshBtn });
    const tbl = tableEl('schemas-table', ['Subject', { label: 'Versions', attrs: { class: 'num' } }, { label: 'Latest', attrs: { class: 'num' } }, 'Type', 'Compatibility']);
    const detailSlot = h('div', { class: 'detail-slot' });
    const layout = h('div', { class: 'split' }, card('Subjects', null, tbl.wrap), detailSlot);
    main.append(head.el, layout);

    let subjects = [];
    let selected = null;

    const showDetail = (subj) => {
      selected = subj.subject;
      layout.classList.add('has-detail');
      const latest = subj.latest || {};
      const versions = Array.isArray(subj.versions) ? subj.versions : [];
      detailSlot.replaceChildren(
        h(
          'section',
          { class: 'card detail', testid: 'schema-detail', 'data-subject': subj.subject },
          h(
            'div',
            { class: 'card-title-row' },
            h('code', { class: 'wrap' }, subj.subject),
            h('button', { type: 'button', class: 'btn btn-sm', onclick: () => { selected = null; detailSlot.replaceChildren(); layout.classList.remove('has-detail'); renderRows(); } }, 'Close'),
          ),
          h(
            'dl',
            { class: 'kv' },
            h('dt', null, 'Latest version'), h('dd', null, latest.version == null ? '—' : `v${latest.version}`),
            h('dt', null, 'Schema id'), h('dd', null, latest.id == null ? '—' : String(latest.id)),
            h('dt', null, 'Type'), h('dd', null, latest.schemaType || 'JSON'),
            h('dt', null, 'Compatibility'), h('dd', null, badge(subj.compatibility || 'default', 'info')),
            h('dt', null, 'All versions'), h('dd', null, versions.length ? versions.map((v) => `v${v}`).join(', ') : '—'),
          ),
          h('div', { class: 'section-label' }, 'Latest schema'),
          h('pre', { class: 'code', testid: 'schema-json' }, latest.schema == null ? '—' : prettyJson(latest.schema)),
        ),
      );
      renderRows();
    };

    function renderRows() {
      if (subjects.length === 0) {
        tbl.tbody.replaceChildren(emptyRow(5, 'No subjects registered.'));
        return;
      }
      tbl.tbody.replaceChildren(
        ...subjects.map((subj) => {
          const versions = Array.isArray(subj.versions) ? subj.versions : [];
          const latest = subj.latest || {};
          return h(
            'tr',
            {
              testid: 'schema-row',
              'data-subject': subj.subject,
              class: `clickable${subj.subject === selected ? ' selected' : ''}`,
              tabindex: '0',
              onclick: () => showDetail(subj),
              onkeydown: (e) => e.key === 'Enter' && showDetail(subj),
            },
            h('td', null, h('code', { class: 'wrap' }, subj.subject)),
            h('td', { class: 'num' }, fmtInt(versions.length)),
            h('td', { class: 'num' }, latest.version == null ? '—' : `v${latest.version}`),
            h('td', null, latest.schemaType || 'JSON'),
            h('td', null, badge(subj.compatibility || 'default', subj.compatibility && subj.compatibility !== 'NONE' ? 'info' : 'neutral')),
          );
        }),
      );
    }

    const load = async () => {
      const data = await api('/api/schemas');
      if (!ctx.alive) return;
      subjects = (Array.isArray(data.subjects) ? data.subjects.slice() : []).sort((a, b) => String(a.subject).localeCompare(String(b.subject)));
      renderRows();
      const current = subjects.find((x) => x.subject === selected);
      if (current) showDetail(current);
      markUpdated(head.updatedEl);
    };
    const refresh = poll(ctx, load, 30_000);
    refreshBtn.addEventListener('click', () => refresh());
  }

  // --- notifications ------------------------------------------------------------

  const KNOWN_NOTIFICATION_STATUSES = ['pending', 'sent', 'failed'];
  let notificationStatus = '';

  function renderNotifications(ctx, main, { query }) {
    if (query.has('status')) notificationStatus = query.get('status') || '';
    const head = pageHeader('Notifications', 'Messages sent to customers and systems, by delivery status.');
    const select = h('select', { testid: 'notifications-filter-status', 'aria-label': 'Filter by status' }, h('option', { value: '' }, 'All statuses'));
    const ensureOption = (status) => {
      if (!status || [...select.options].some((o) => o.value === status)) return;
      select.appendChild(h('option', { value: status }, status));
    };
    KNOWN_NOTIFICATION_STATUSES.forEach(ensureOption);
    ensureOption(notificationStatus);
    select.value = notificationStatus;

    const barSlot = h('div', { class: 'bar-slot' });
    const tbl = tableEl('notifications-table', ['Recipient', 'Channel', 'Template', 'Status', { label: 'Attempts', attrs: { class: 'num' } }, 'Last error', 'Created', 'Sent', 'Event']);
    main.append(
      head.el,
      card('Status', null, barSlot),
      card(h('div', { class: 'card-title-row' }, h('span', null, 'Notifications'), h('label', { class: 'inline-field' }, h('span', null, 'Status'), select)), null, tbl.wrap),
    );

    const refresh = poll(
      ctx,
      async () => {
        // The notification service's API: the list, and the counts by status.
        const [list0, counts0] = await Promise.all([
          api(`/api/notifications${qs({ status: notificationStatus, limit: 200 })}`),
          api('/api/notifications/summary'),
        ]);
        const data = { notifications: list0, counts: counts0 };
        if (!ctx.alive) return;
        const counts = data.counts || {};
        Object.keys(counts).forEach(ensureOption);
        const order = [...KNOWN_NOTIFICATION_STATUSES, ...Object.keys(counts).filter((k) => !KNOWN_NOTIFICATION_STATUSES.includes(k)).sort()];
        const parts = order.filter((k) => k in counts).map((k) => ({ key: k, value: counts[k] }));
        barSlot.replaceChildren(stackedBar(parts, { testid: 'notifications-bar', segmentTestid: 'notifications-segment' }));

        const list = Array.isArray(data.notifications) ? data.notifications : [];
        tbl.tbody.replaceChildren(
          ...(list.length
            ? list.map((n) =>
                h(
                  'tr',
                  { testid: 'notification-row', 'data-id': n.id, 'data-status': n.status },
                  h('td', null, h('strong', null, n.recipient)),
                  h('td', null, n.channel),
                  h('td', null, h('code', null, n.template == null ? '—' : n.template)),
                  h('td', null, badge(n.status)),
                  numCell(n.attempts),
                  h('td', { class: 'error-cell', title: n.last_error || '' }, n.last_error ? n.last_error : h('span', { class: 'muted' }, '—')),
                  h('td', { class: 'nowrap' }, timeEl(n.created_at)),
                  h('td', { class: 'nowrap' }, timeEl(n.sent_at)),
                  h('td', null, n.event_id ? h('a', { href: `#/events/${encodeURIComponent(n.event_id)}`, title: n.event_id }, 'journey →') : '—'),
                ),
              )
            : [emptyRow(9, notificationStatus ? `No notifications with status “${notificationStatus}”.` : 'No notifications yet.')]),
        );
        markUpdated(head.updatedEl);
      },
      POLL.notifications,
    );

    select.addEventListener('change', () => {
      notificationStatus = select.value;
      refresh();
    });
  }

  // --- event journey --------------------------------------------------------------

  function journeyItem(st, prevAt) {
    const at = parseTime(st.at);
    const delta = at && prevAt ? at.getTime() - prevAt.getTime() : null;
    const detail = st.detail === null || st.detail === undefined ? null : typeof st.detail === 'string' ? st.detail : prettyJson(st.detail);
    return h(
      'li',
      { class: `journey-item tone-${toneOf(st.state)}`, testid: 'journey-state', 'data-state': st.state },
      h('span', { class: 'journey-dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'journey-body' },
        h(
          'div',
          { class: 'journey-head' },
          badge(st.state),
          st.service ? h('span', { class: 'journey-service' }, st.service) : null,
          h('span', { class: 'journey-time', title: fmtAbsolute(st.at) }, fmtAbsolute(st.at)),
          h('span', { class: 'muted small' }, relTime(st.at)),
          isNum(delta) ? h('span', { class: 'journey-delta num' }, `+${fmtDuration(Math.max(0, delta))}`) : null,
        ),
        detail ? h('pre', { class: 'code code-small' }, detail) : null,
      ),
    );
  }

  function eventLookupForm(current) {
    const inputEl = h('input', { type: 'search', name: 'event', value: current || '', placeholder: 'event id (UUID)', testid: 'event-lookup-input', autocomplete: 'off' });
    return h(
      'form',
      {
        class: 'lookup',
        testid: 'event-lookup',
        onsubmit: (e) => {
          e.preventDefault();
          const id = inputEl.value.trim();
          if (id) location.hash = `#/events/${encodeURIComponent(id)}`;
        },
      },
      inputEl,
      h('button', { type: 'submit', class: 'btn btn-sm' }, 'Look up'),
    );
  }

  function renderEvent(ctx, main, { params }) {
    let id = params[0];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep raw */
    }
    const head = pageHeader('Event journey', null, { actions: eventLookupForm(id) });
    const body = h('div', { class: 'journey-slot' });
    main.append(head.el, body);

    poll(
      ctx,
      async () => {
        let data;
        try {
          data = await api(`/api/events/${encodeURIComponent(id)}`);
        } catch (err) {
          if (err.status !== 404) throw err;
          if (!ctx.alive) return;
          body.replaceChildren(
            h(
              'section',
              { class: 'card empty-state', testid: 'journey-not-found' },
              h('h2', null, 'No such event'),
              h('p', null, 'Herald has no record of an event with id ', h('code', null, id), '.'),
              h('p', { class: 'muted small' }, 'Check the id, or the event may have been pruned from the history.'),
            ),
          );
          markUpdated(head.updatedEl);
          return;
        }
        if (!ctx.alive) return;
        const states = Array.isArray(data.states) ? data.states : [];
        let prev = null;
        const items = states.map((st) => {
          const item = journeyItem(st, prev);
          prev = parseTime(st.at) || prev;
          return item;
        });
        body.replaceChildren(
          h(
            'section',
            { class: 'card' },
            h(
              'dl',
              { class: 'kv kv-inline' },
              h('dt', null, 'Event id'), h('dd', null, h('code', null, data.event_id || id)),
              h('dt', null, 'Type'), h('dd', null, h('code', null, data.type == null ? '—' : data.type)),
              h('dt', null, 'Partition key'), h('dd', null, h('code', null, data.partition_key == null ? '—' : data.partition_key)),
            ),
          ),
          card(
            'Timeline',
            null,
            items.length ? h('ol', { class: 'journey', testid: 'journey' }, items) : h('p', { class: 'muted', testid: 'journey' }, 'No states recorded yet.'),
          ),
        );
        markUpdated(head.updatedEl);
      },
      POLL.event,
    );
  }

  function renderNotFound(ctx, main) {
    main.append(
      h(
        'section',
        { class: 'card empty-state', testid: 'not-found' },
        h('h2', null, 'Page not found'),
        h('p', null, 'There is no page at ', h('code', null, location.hash || '#/'), '. ', h('a', { href: '#/' }, 'Back to the overview'), '.'),
      ),
    );
  }

  // ---------------------------------------------------------------------------
  // 5. Router & boot
  // ---------------------------------------------------------------------------

  const ROUTES = [
    { re: /^\/?$/, nav: 'overview', title: 'Overview', render: renderOverview },
    { re: /^\/outbox\/?$/, nav: 'outbox', title: 'Outbox', render: renderOutbox },
    { re: /^\/consumers\/?$/, nav: 'consumers', title: 'Consumers', render: renderConsumers },
    { re: /^\/dlq\/?$/, nav: 'dlq', title: 'Dead-letter queue', render: renderDlq },
    { re: /^\/schemas\/?$/, nav: 'schemas', title: 'Schemas', render: renderSchemas },
    { re: /^\/notifications\/?$/, nav: 'notifications', title: 'Notifications', render: renderNotifications },
    { re: /^\/events\/([^/?]+)\/?$/, nav: null, title: 'Event journey', render: renderEvent },
  ];

  let currentCtx = null;

  function parseHash() {
    const raw = location.hash.replace(/^#/, '');
    const qi = raw.indexOf('?');
    const path = (qi >= 0 ? raw.slice(0, qi) : raw) || '/';
    const query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
    return { path, query };
  }

  function setActiveNav(page) {
    document.querySelectorAll('.nav a[data-page]').forEach((a) => {
      const active = a.dataset.page === page;
      a.classList.toggle('active', active);
      if (active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
  }

  function route() {
    if (currentCtx) currentCtx.dispose();
    closeModal();
    clearError();
    const { path, query } = parseHash();
    let match = null;
    let params = [];
    for (const r of ROUTES) {
      const m = path.match(r.re);
      if (m) {
        match = r;
        params = m.slice(1);
        break;
      }
    }
    const main = $('#main');
    main.replaceChildren();
    const ctx = newContext();
    currentCtx = ctx;
    setActiveNav(match ? match.nav : null);
    document.title = `${match ? match.title : 'Not found'} · Herald`;
    (match ? match.render : renderNotFound)(ctx, main, { params, query });
  }

  function initToken() {
    const input = $('#token-input');
    input.value = getToken();
    const save = () => {
      setToken(input.value.trim());
      input.classList.remove('invalid');
      input.removeAttribute('aria-invalid');
    };
    input.addEventListener('input', save);
    input.addEventListener('change', save);
  }

  function boot() {
    initToken();
    window.addEventListener('hashchange', route);
    route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
