// The layernas dashboard: renders the page the path names from the JSON API, and keeps it
// live by polling. Every string from the store goes into the page as text (textContent or
// text nodes), never as markup.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const POLL_MS = 1000;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function sv(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

const enc = encodeURIComponent;
const studyApi = (name) => '/api/studies/' + enc(name);
const studyUrl = (name) => '/study/' + enc(name);
const trialUrl = (name, id) => studyUrl(name) + '/trial/' + enc(id);

async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || ('HTTP ' + r.status));
  return body;
}

function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (typeof x !== 'number') return String(x);
  if (digits === undefined) digits = 4;
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(2);
  return String(+x.toPrecision(digits));
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 1) return 'just now';
  if (seconds < 90) return Math.round(seconds) + ' s ago';
  if (seconds < 5400) return Math.round(seconds / 60) + ' min ago';
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h ago';
  return (seconds / 86400).toFixed(1) + ' days ago';
}

function when(unix) {
  if (!unix) return '-';
  return new Date(unix * 1000).toLocaleString();
}

function duration(s) {
  if (s === null || s === undefined) return '-';
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
  if (s < 3600) return (s / 60).toFixed(1) + ' min';
  return (s / 3600).toFixed(2) + ' h';
}

function costText(info) {
  if (!info) return '-';
  return info.cost.name + ' (' + info.cost.unit + ')';
}

function windowText(info) {
  if (!info) return '-';
  const lo = info.min_cost, hi = info.max_cost;
  if (lo === null && hi === null) return 'none (front search)';
  return (lo === null ? '' : fmt(lo) + ' ≤ ') + 'cost' + (hi === null ? '' : ' ≤ ' + fmt(hi));
}

function badge(state) {
  return el('span', { class: 'badge ' + state.replace(/ /g, '-'), text: state });
}

function setLive(text, error) {
  const live = document.getElementById('live');
  live.textContent = text;
  live.className = 'live' + (error ? ' error' : '');
}

function section(title, id, ...children) {
  return el('section', { id }, el('h2', { text: title }), ...children);
}

function kv(pairs) {
  return el('dl', { class: 'kv' }, pairs.map(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
}

function table(headers, rows, attrs) {
  return el('table', attrs || {},
    el('thead', {}, el('tr', {}, headers.map((h) => (h instanceof Node ? h : el('th', { text: h }))))),
    el('tbody', {}, rows));
}

function fail(main, e) {
  main.replaceChildren(el('p', { class: 'error', text: 'Error: ' + e.message }));
}

// ---------------------------------------------------------------------------------------------
// Studies

async function studiesPage(main) {
  document.title = 'layernas dashboard';
  const body = el('tbody');
  main.replaceChildren(
    el('h1', { text: 'Studies' }),
    el('table', { id: 'studies' },
      el('thead', {}, el('tr', {}, ['study', 'space', 'strategy', 'cost', 'window', 'state',
        'trials', 'pending', 'running', 'complete', 'failed', 'best', 'last activity']
        .map((h) => el('th', { text: h })))),
      body));
  async function refresh() {
    const data = await api('/api/studies');
    const now = Date.now() / 1000;
    body.replaceChildren(...data.studies.map((s) => el('tr', {},
      el('td', {}, el('a', { href: studyUrl(s.study), class: 'study-link', text: s.study })),
      el('td', { text: s.info ? s.info.space : '-' }),
      el('td', { text: s.info ? s.info.strategy : '-' }),
      el('td', { text: costText(s.info) }),
      el('td', { text: windowText(s.info) }),
      el('td', {}, badge(s.state)),
      el('td', { class: 'num', text: s.counts.trials }),
      el('td', { class: 'num', text: s.counts.pending }),
      el('td', { class: 'num', text: s.counts.running }),
      el('td', { class: 'num', text: s.counts.complete }),
      el('td', { class: 'num', text: s.counts.failed }),
      el('td', {}, s.best ? el('a', { href: trialUrl(s.study, s.best.id),
        text: fmt(s.best.reward) + ' @ ' + fmt(s.best.cost) + ' — ' + s.best.arch }) : '-'),
      el('td', { text: ago(now - s.last_activity) }))));
    if (!data.studies.length) body.replaceChildren(el('tr', {}, el('td', { colspan: 13, text: 'No studies in this store yet.' })));
  }
  poll(refresh);
}

function poll(refresh, every) {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await refresh();
      setLive('live · updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      setLive('cannot refresh: ' + e.message, true);
    } finally {
      busy = false;
    }
  };
  tick();
  setInterval(tick, every || POLL_MS);
}

// ---------------------------------------------------------------------------------------------
// Charts: every point on a canvas (fast for 100,000 trials), the front, the window, the axes
// and the hover target in SVG on top.

function ticks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / (n || 5);
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const norm = step0 / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function extent(values, extra) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
  for (const v of extra || []) { if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
  if (lo === Infinity) { lo = 0; hi = 1; }
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

// A chart frame: returns scales and the layers to draw on.
function frame(holder, id, xs, ys, xLabel, yLabel, xExtra) {
  const W = Math.max(320, holder.clientWidth || 640), H = 340;
  const m = { l: 58, r: 16, t: 12, b: 42 };
  const [x0, x1] = extent(xs, xExtra);
  const [y0, y1] = extent(ys);
  const X = (v) => m.l + (v - x0) / (x1 - x0) * (W - m.l - m.r);
  const Y = (v) => H - m.b - (v - y0) / (y1 - y0) * (H - m.t - m.b);
  const canvas = el('canvas', { class: 'cloud' });
  const ratio = window.devicePixelRatio || 1;
  canvas.width = W * ratio; canvas.height = H * ratio;
  canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  const svg = sv('svg', { id, width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  const axes = sv('g', { class: 'axes' });
  for (const t of ticks(x0, x1, 6)) {
    axes.append(sv('line', { x1: X(t), x2: X(t), y1: m.t, y2: H - m.b, class: 'grid' }));
    axes.append(sv('text', { x: X(t), y: H - m.b + 16, 'text-anchor': 'middle', text: fmt(t) }));
  }
  for (const t of ticks(y0, y1, 5)) {
    axes.append(sv('line', { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: 'grid' }));
    axes.append(sv('text', { x: m.l - 6, y: Y(t) + 4, 'text-anchor': 'end', text: fmt(t) }));
  }
  axes.append(sv('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'plot' }));
  axes.append(sv('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'label', text: xLabel }));
  axes.append(sv('text', { x: 14, y: (m.t + H - m.b) / 2, 'text-anchor': 'middle', class: 'label',
    transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})`, text: yLabel }));
  svg.append(axes);
  const wrap = el('div', { class: 'chart-wrap' }, canvas, svg);
  holder.replaceChildren(wrap);
  return { W, H, m, X, Y, x0, x1, y0, y1, ctx, svg };
}

// The nearest of `n` points (pixel coordinates px/py) to (x, y), within `radius` pixels.
function nearest(px, py, x, y, radius) {
  let best = -1, bd = radius * radius;
  for (let i = 0; i < px.length; i++) {
    const dx = px[i] - x, dy = py[i] - y, d = dx * dx + dy * dy;
    if (d <= bd) { bd = d; best = i; }
  }
  return best;
}

const tipCache = new Map();

function showTip(ev, lines) {
  const tip = document.getElementById('tip');
  tip.replaceChildren(...lines.map((l) => el('div', { text: l })));
  tip.hidden = false;
  const x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  tip.style.left = x + window.scrollX + 'px';
  tip.style.top = ev.clientY + 14 + window.scrollY + 'px';
}

function hideTip() { document.getElementById('tip').hidden = true; }

function pointLines(info, p) {
  const unit = info ? info.cost.unit : '';
  const lines = ['trial ' + p.id];
  if (p.arch !== undefined) lines.push(p.arch);
  lines.push('cost ' + fmt(p.cost) + ' ' + unit, 'reward ' + fmt(p.reward));
  if (p.test !== undefined) lines.push('test ' + fmt(p.test));
  return lines;
}

// Hover details of any trial: the front's are at hand; others are fetched once.
function hoverTrial(name, info, ev, p) {
  const known = tipCache.get(p.id);
  showTip(ev, pointLines(info, known || p));
  if (known) return;
  api(studyApi(name) + '/trials/' + p.id).then((t) => {
    const full = { id: p.id, arch: t.trial.arch, cost: t.trial.cost, reward: t.trial.reward,
      test: t.trial.metrics.test === undefined ? null : t.trial.metrics.test };
    tipCache.set(p.id, full);
    const tip = document.getElementById('tip');
    if (!tip.hidden && tip.dataset.id === String(p.id)) showTip(ev, pointLines(info, full));
  }).catch(() => {});
  document.getElementById('tip').dataset.id = String(p.id);
}

function scatter(holder, name, view, pts) {
  const info = view.info;
  const win = info ? [info.min_cost, info.max_cost].filter((v) => v !== null) : [];
  const f = frame(holder, 'scatter', pts.cost, pts.reward,
    'cost' + (info ? ' (' + info.cost.name + ', ' + info.cost.unit + ')' : ''),
    info ? info.reward_column : 'reward', win);
  const { ctx, X, Y, svg, m, H, W } = f;
  // The cost window: shade what lies outside it.
  if (info && (info.min_cost !== null || info.max_cost !== null)) {
    const g = sv('g', { class: 'window' });
    if (info.min_cost !== null && X(info.min_cost) > m.l) {
      g.append(sv('rect', { x: m.l, y: m.t, width: X(info.min_cost) - m.l, height: H - m.t - m.b, class: 'outside' }));
      g.append(sv('line', { x1: X(info.min_cost), x2: X(info.min_cost), y1: m.t, y2: H - m.b, class: 'edge' }));
    }
    if (info.max_cost !== null && X(info.max_cost) < W - m.r) {
      g.append(sv('rect', { x: X(info.max_cost), y: m.t, width: W - m.r - X(info.max_cost), height: H - m.t - m.b, class: 'outside' }));
      g.append(sv('line', { x1: X(info.max_cost), x2: X(info.max_cost), y1: m.t, y2: H - m.b, class: 'edge' }));
      g.append(sv('text', { x: X(info.max_cost) - 4, y: m.t + 14, 'text-anchor': 'end', class: 'edge-label', text: 'max cost ' + fmt(info.max_cost) }));
    }
    svg.append(g);
  }
  const n = pts.id.length;
  const px = new Float32Array(n), py = new Float32Array(n);
  ctx.fillStyle = 'rgba(70, 110, 170, 0.45)';
  const r = n > 20000 ? 1.2 : n > 2000 ? 1.8 : 2.6;
  for (let i = 0; i < n; i++) {
    px[i] = X(pts.cost[i]); py[i] = Number.isFinite(pts.reward[i]) ? Y(pts.reward[i]) : NaN;
    if (Number.isNaN(py[i])) continue;
    ctx.beginPath(); ctx.arc(px[i], py[i], r, 0, 6.2832); ctx.fill();
  }
  // The hover and click target for every point; the front's circles lie above it.
  const target = sv('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'target' });
  const at = (ev) => {
    const b = svg.getBoundingClientRect();
    const i = nearest(px, py, ev.clientX - b.left, ev.clientY - b.top, 8);
    return i < 0 ? null : { id: pts.id[i], cost: pts.cost[i], reward: pts.reward[i] };
  };
  target.addEventListener('mousemove', (ev) => { const p = at(ev); if (p) hoverTrial(name, info, ev, p); else hideTip(); });
  target.addEventListener('mouseleave', hideTip);
  target.addEventListener('click', (ev) => { const p = at(ev); if (p) location.href = trialUrl(name, p.id); });
  svg.append(target);
  // The front: a step line and one circle per point.
  const front = view.front;
  if (front.length) {
    let d = '';
    front.forEach((p, i) => {
      d += (i ? ' H' + X(p.cost) + ' V' + Y(p.reward) : 'M' + X(p.cost) + ' ' + Y(p.reward));
    });
    svg.append(sv('path', { d, class: 'front-line' }));
  }
  const g = sv('g', { class: 'front' });
  for (const p of front) {
    const c = sv('circle', { cx: X(p.cost), cy: Y(p.reward), r: 5, class: 'front-point' + (view.best && view.best.id === p.id ? ' best' : ''), 'data-id': p.id });
    c.addEventListener('mousemove', (ev) => showTip(ev, ['on the front'].concat(pointLines(info, p))));
    c.addEventListener('mouseleave', hideTip);
    c.addEventListener('click', () => { location.href = trialUrl(name, p.id); });
    g.append(c);
  }
  svg.append(g);
  svg.setAttribute('data-points', n);
  svg.setAttribute('data-ready', '1');
}

function rewardChart(holder, name, view, pts) {
  const info = view.info;
  const f = frame(holder, 'progress', pts.id, pts.reward, 'trial', info ? info.reward_column : 'reward');
  const { ctx, X, Y, svg, m, H, W } = f;
  const n = pts.id.length;
  const px = new Float32Array(n), py = new Float32Array(n);
  ctx.fillStyle = 'rgba(70, 110, 170, 0.45)';
  const r = n > 20000 ? 1.2 : n > 2000 ? 1.8 : 2.6;
  let d = '', best = -Infinity;
  for (let i = 0; i < n; i++) {
    px[i] = X(pts.id[i]); py[i] = Number.isFinite(pts.reward[i]) ? Y(pts.reward[i]) : NaN;
    if (Number.isNaN(py[i])) continue;
    ctx.beginPath(); ctx.arc(px[i], py[i], r, 0, 6.2832); ctx.fill();
    if (pts.reward[i] > best) {
      best = pts.reward[i];
      d += (d ? ' H' + px[i] + ' V' + py[i] : 'M' + px[i] + ' ' + py[i]);
    }
  }
  if (d) { d += ' H' + (W - m.r); svg.append(sv('path', { d, class: 'best-line' })); }
  const target = sv('rect', { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, class: 'target' });
  const at = (ev) => {
    const b = svg.getBoundingClientRect();
    const i = nearest(px, py, ev.clientX - b.left, ev.clientY - b.top, 8);
    return i < 0 ? null : { id: pts.id[i], cost: pts.cost[i], reward: pts.reward[i] };
  };
  target.addEventListener('mousemove', (ev) => { const p = at(ev); if (p) hoverTrial(name, info, ev, p); else hideTip(); });
  target.addEventListener('mouseleave', hideTip);
  target.addEventListener('click', (ev) => { const p = at(ev); if (p) location.href = trialUrl(name, p.id); });
  svg.append(target);
  svg.setAttribute('data-ready', '1');
}

// ---------------------------------------------------------------------------------------------
// Study

function configPanel(view) {
  const i = view.info;
  const pairs = [
    ['state', badge(view.state)],
    ['space', i ? i.space : '-'],
    ['dataset', i ? i.dataset : '-'],
    ['strategy', i ? i.strategy : '-'],
    ['cost', costText(i)],
    ['cost window', windowText(i)],
    ['reward', i ? i.reward_column : '-'],
    ['test', i ? i.test_column : '-'],
    ['trial budget', i && i.max_trials !== null ? String(i.max_trials) : 'none'],
    ['trial bound', i && i.trial_bound !== null ? String(i.trial_bound) : 'unbounded'],
  ];
  if (i && i.paper_bound !== null) pairs.push(['paper bound H·K·|S|·L', String(i.paper_bound)]);
  pairs.push(['created', when(view.created_at)]);
  const bound = i && (i.max_trials !== null || i.trial_bound !== null)
    ? Math.min(i.max_trials === null ? Infinity : i.max_trials, i.trial_bound === null ? Infinity : i.trial_bound) : null;
  const c = view.counts;
  const bar = el('div', { class: 'bar', title: 'trials by state' });
  const total = Math.max(c.trials, bound || 0, 1);
  for (const s of ['complete', 'failed', 'running', 'pending']) {
    if (!c[s]) continue;
    // Through the style object, not a style attribute: the page's policy forbids inline styles.
    const seg = el('span', { class: 'seg ' + s, title: s + ' ' + c[s] });
    seg.style.width = (100 * c[s] / total) + '%';
    bar.append(seg);
  }
  const counts = el('p', { class: 'counts' },
    `${c.trials} trials in ${c.waves} waves: ${c.complete} complete, ${c.failed} failed, ${c.running} running, ${c.pending} pending` +
    (bound !== null ? ` (at most ${bound})` : ''));
  const best = view.best
    ? el('p', {}, 'Answer: ', el('a', { href: trialUrl(view.study, view.best.id), id: 'best-link', text: view.best.arch }),
      ` — reward ${fmt(view.best.reward)}, cost ${fmt(view.best.cost)}`)
    : el('p', { class: 'muted', text: 'No answer yet.' });
  const raw = el('details', {}, el('summary', { text: 'stored configuration' }),
    el('pre', { text: JSON.stringify(view.config, null, 2) }));
  return [view.note ? el('p', { class: 'error', text: view.note }) : null, kv(pairs), counts, bar, best, raw];
}

function layersPanel(view) {
  if (!view.layers.length) return [el('p', { class: 'muted', text: 'Per-layer progress is shown for LayerNAS studies.' })];
  const headers = ['layer', 'options', 'parents (bound)', 'children (bound)', 'parents', 'children', 'pruned',
    'unsampled', 'reused', 'evaluated', 'kept', 'bucket window'];
  const rows = view.layers.map((l) => {
    const s = l.stats;
    const cells = [l.plan.layer, l.plan.options, l.plan.parents, l.plan.children];
    if (s) cells.push(s.parents, s.children, s.pruned, s.unsampled, s.reused, s.evaluated, s.kept,
      fmt(s.window[0]) + ' – ' + fmt(s.window[1]));
    else cells.push('', '', '', '', '', '', '', fmt(l.plan.window[0]) + ' – ' + fmt(l.plan.window[1]) + ' (plan)');
    return el('tr', { class: s ? 'done' : 'todo' }, cells.map((x, k) => el('td', { class: k ? 'num' : null, text: x })));
  });
  return [table(headers, rows, { id: 'layers' })];
}

function trialsPanel(name, state) {
  const filter = el('select', { id: 'state-filter' },
    ['all', 'pending', 'running', 'complete', 'failed'].map((s) => el('option', { value: s, text: s })));
  filter.value = state.filter;
  const info = el('span', { class: 'muted' });
  const prev = el('button', { text: '‹ prev' });
  const next = el('button', { text: 'next ›' });
  const cols = [['id', 'id'], ['arch', null], ['state', 'state'], ['cost', 'cost'], ['reward', 'reward'],
    ['test', 'test'], ['wave', 'wave'], ['attempts', 'attempts'], ['worker', 'worker'], ['seconds', 'seconds'],
    ['finished', 'finished']];
  const head = el('tr', {}, cols.map(([label, key]) => {
    if (!key) return el('th', { text: label });
    const th = el('th', { class: 'sortable', 'data-sort': key, text: label + (state.sort === key ? (state.order === 'asc' ? ' ▲' : ' ▼') : '') });
    th.addEventListener('click', () => {
      state.order = state.sort === key && state.order === 'asc' ? 'desc' : 'asc';
      state.sort = key; state.page = 1; state.reload();
    });
    return th;
  }));
  const body = el('tbody');
  filter.addEventListener('change', () => { state.filter = filter.value; state.page = 1; state.reload(); });
  prev.addEventListener('click', () => { if (state.page > 1) { state.page--; state.reload(); } });
  next.addEventListener('click', () => { if (state.page < state.pages) { state.page++; state.reload(); } });
  state.render = (data) => {
    state.pages = data.pages;
    info.textContent = `${data.total} trials · page ${data.page} of ${data.pages}`;
    prev.disabled = data.page <= 1; next.disabled = data.page >= data.pages;
    for (const th of head.children) {
      const key = th.dataset.sort;
      if (key) th.textContent = cols.find((c) => c[1] === key)[0] + (state.sort === key ? (state.order === 'asc' ? ' ▲' : ' ▼') : '');
    }
    body.replaceChildren(...data.trials.map((t) => el('tr', {},
      el('td', { class: 'num' }, el('a', { href: trialUrl(name, t.id), text: t.id })),
      el('td', { class: 'arch', text: t.arch }),
      el('td', {}, badge(t.state)),
      el('td', { class: 'num', text: fmt(t.cost) }),
      el('td', { class: 'num', text: fmt(t.reward) }),
      el('td', { class: 'num', text: fmt(t.metrics.test) }),
      el('td', { class: 'num', text: t.wave }),
      el('td', { class: 'num', text: t.attempts }),
      el('td', { text: t.worker || '-' }),
      el('td', { class: 'num', text: duration(t.seconds) }),
      el('td', { text: t.finished_at ? new Date(t.finished_at * 1000).toLocaleTimeString() : '-' }))));
  };
  return [el('div', { class: 'controls' }, el('label', {}, 'state ', filter), prev, next, info),
    el('table', { id: 'trials' }, el('thead', {}, head), body)];
}

function failuresPanel(name, failures) {
  if (!failures.length) return [el('p', { class: 'muted', text: 'No failures.' })];
  return [table(['trial', 'arch', 'state', 'attempts', 'error'], failures.slice(0, 200).map((t) => el('tr', {},
    el('td', { class: 'num' }, el('a', { href: trialUrl(name, t.id), text: t.id })),
    el('td', { class: 'arch', text: t.arch }),
    el('td', {}, badge(t.state)),
    el('td', { class: 'num', text: t.attempts }),
    el('td', {}, el('pre', { class: 'err', text: t.error || '' })))), { id: 'failures-table' }),
  failures.length > 200 ? el('p', { class: 'muted', text: `… and ${failures.length - 200} more (download the trials for all).` }) : null];
}

function workersPanel(name, w) {
  const out = [];
  out.push(w.controller
    ? el('p', {}, 'Controller ', el('code', { text: w.controller.holder }),
      w.controller.live ? ` holds the study (lease expires in ${w.controller.lease_expires_in.toFixed(0)} s unless renewed)`
        : ` last held it (lease expired ${(-w.controller.lease_expires_in).toFixed(0)} s ago)`)
    : el('p', { class: 'muted', text: 'No controller holds the study.' }));
  out.push(el('h3', { text: 'Running trials' }));
  out.push(w.running.length
    ? table(['trial', 'worker', 'attempt', 'lease', 'last heartbeat'], w.running.map((r) => el('tr', {},
      el('td', { class: 'num' }, el('a', { href: trialUrl(name, r.id), text: r.id })),
      el('td', { text: r.worker || '-' }),
      el('td', { class: 'num', text: r.attempt }),
      el('td', { text: r.leased ? 'worker lease' : 'controller thread' }),
      el('td', { text: ago(r.seconds_since_heartbeat) }))), { id: 'leases' })
    : el('p', { class: 'muted', text: 'None.' }));
  out.push(el('h3', { text: 'Workers of this store' }));
  out.push(w.workers.length
    ? table(['worker', 'last seen', 'trials reported'], w.workers.map((x) => el('tr', {},
      el('td', { text: x.name }), el('td', { text: ago(x.seconds_since_seen) }), el('td', { class: 'num', text: x.trials }))), { id: 'workers-table' })
    : el('p', { class: 'muted', text: 'No layernas worker has reported to this store.' }));
  return out;
}

async function studyPage(main, name) {
  document.title = name + ' · layernas';
  const h1 = el('h1', {}, el('a', { href: '/', text: 'Studies' }), ' / ', el('span', { id: 'study-name', text: name }));
  const config = el('div');
  const scatterBox = el('div', { class: 'chart-box' });
  const rewardBox = el('div', { class: 'chart-box' });
  const layers = el('div');
  const failures = el('div');
  const workers = el('div');
  const tstate = { filter: 'all', sort: 'id', order: 'asc', page: 1, pages: 1 };
  const downloads = el('p', { class: 'downloads' }, 'Download every trial: ',
    el('a', { href: studyApi(name) + '/export.csv', id: 'csv', text: 'CSV' }), ' · ',
    el('a', { href: studyApi(name) + '/export.json', id: 'json', text: 'JSON' }),
    el('span', { class: 'muted', text: ' (as layernas export writes them)' }));
  main.replaceChildren(h1,
    section('Configuration', 'config', config),
    section('Cost and accuracy', 'front-section',
      el('p', { class: 'muted', text: 'Every completed trial; the Pareto front in orange (the answer ringed); outside the cost window shaded. Hover for details, click to open a trial.' }), scatterBox),
    section('Reward by trial', 'reward-section', rewardBox),
    section('LayerNAS progress per layer', 'layers-section', layers),
    section('Trials', 'trials-section', downloads, ...trialsPanel(name, tstate)),
    section('Failures', 'failures-section', failures),
    section('Workers and leases', 'workers-section', workers));
  let version = null, view = null, pts = null;
  tstate.reload = async () => {
    const q = new URLSearchParams({ state: tstate.filter, sort: tstate.sort, order: tstate.order, page: tstate.page, per_page: 50 });
    tstate.render(await api(studyApi(name) + '/trials?' + q));
  };
  let width = 0;
  const draw = () => {
    if (!view || !pts) return;
    scatter(scatterBox, name, view, pts);
    rewardChart(rewardBox, name, view, pts);
    width = scatterBox.clientWidth;
  };
  window.addEventListener('resize', () => { if (scatterBox.clientWidth !== width) draw(); });
  poll(async () => {
    const v = await api(studyApi(name));
    if (v.version !== version) {
      const [p, f] = await Promise.all([api(studyApi(name) + '/points'), api(studyApi(name) + '/failures')]);
      view = v; pts = p; version = v.version;
      config.replaceChildren(...configPanel(v).filter(Boolean));
      layers.replaceChildren(...layersPanel(v));
      failures.replaceChildren(...failuresPanel(name, f).filter(Boolean));
      draw();
      await tstate.reload();
    }
    workers.replaceChildren(...workersPanel(name, await api(studyApi(name) + '/workers')));
  });
}

// ---------------------------------------------------------------------------------------------
// Trial

function networkPanel(network) {
  if (network === null) return [el('p', { class: 'muted', text: 'This space has no network description (the cell space takes its numbers from the benchmark table).' })];
  if (network.error) return [el('p', { class: 'error', text: network.error })];
  const rows = network.map((l, i) => el('tr', {},
    el('td', { class: 'num', text: i }),
    el('td', { text: l.op.op }),
    el('td', { class: 'num', text: `${l.input}×${l.input}×${l.in_channels}` }),
    el('td', { class: 'num', text: l.out_channels }),
    el('td', { class: 'num', text: l.op.kernel === undefined ? '-' : l.op.kernel }),
    el('td', { class: 'num', text: l.op.stride === undefined ? '-' : l.op.stride }),
    el('td', { class: 'num', text: l.op.expanded === undefined ? '-' : l.op.expanded }),
    el('td', { class: 'num', text: `${l.output}×${l.output}` }),
    el('td', { class: 'num', text: fmt(l.madds / 1e6, 5) }),
    el('td', { class: 'num', text: fmt(l.params / 1e6, 5) })));
  const madds = network.reduce((a, l) => a + l.madds, 0), params = network.reduce((a, l) => a + l.params, 0);
  rows.push(el('tr', { class: 'total' }, el('td', {}), el('td', { text: 'total' }), el('td', {}), el('td', {}),
    el('td', {}), el('td', {}), el('td', {}), el('td', {}),
    el('td', { class: 'num', text: fmt(madds / 1e6, 5) }), el('td', { class: 'num', text: fmt(params / 1e6, 5) })));
  return [table(['#', 'op', 'input', 'out channels', 'kernel', 'stride', 'expanded', 'output', 'MAdds (M)', 'params (M)'], rows, { id: 'network' })];
}

async function trialPage(main, name, id) {
  document.title = 'trial ' + id + ' · ' + name + ' · layernas';
  const h1 = el('h1', {}, el('a', { href: '/', text: 'Studies' }), ' / ',
    el('a', { href: studyUrl(name), id: 'study-link', text: name }), ' / trial ', el('span', { id: 'trial-id', text: id }));
  const body = el('div');
  main.replaceChildren(h1, body);
  let last = null;
  poll(async () => {
    const d = await api(studyApi(name) + '/trials/' + enc(id));
    const t = d.trial;
    const key = JSON.stringify(t);
    if (key === last) return;
    last = key;
    const i = d.info;
    const unit = i ? ' ' + i.cost.unit : '';
    const flags = [d.best ? 'the answer' : null, d.on_front ? 'on the front' : null].filter(Boolean).join(', ');
    const pairs = [
      ['architecture', el('code', { id: 'trial-arch', text: t.arch })],
      ['key', el('code', { text: t.key })],
      ['state', badge(t.state)],
      ['cost', fmt(t.cost) + unit],
      [i ? i.reward_column : 'reward', fmt(t.reward)],
      ['wave', String(t.wave)],
      ['attempts', String(t.attempts)],
      ['worker', t.worker || '-'],
      ['evaluation time', duration(t.seconds)],
      ['finished', when(t.finished_at)],
      ['last heartbeat', when(t.heartbeat_at)],
    ];
    if (flags) pairs.splice(3, 0, ['', flags]);
    if (d.table_index !== null) pairs.push(['benchmark table index', String(d.table_index)]);
    const metrics = Object.entries(t.metrics);
    body.replaceChildren(
      section('Trial', 'trial', kv(pairs)),
      section('Metrics', 'metrics', metrics.length
        ? table(['metric', 'value'], metrics.map(([k, v]) => el('tr', {}, el('td', { text: k }), el('td', { class: 'num', text: fmt(v, 6) }))))
        : el('p', { class: 'muted', text: 'No metrics.' })),
      t.error ? section('Error', 'error', el('pre', { class: 'err', text: t.error })) : '',
      section('Network', 'network-section', ...networkPanel(d.network)));
  });
}

// ---------------------------------------------------------------------------------------------

function route() {
  const main = document.getElementById('main');
  const path = location.pathname;
  let m;
  try {
    if (path === '/' || path === '') return studiesPage(main).catch((e) => fail(main, e));
    if ((m = path.match(/^\/study\/([^/]+)\/trial\/([^/]+)\/?$/))) return trialPage(main, decodeURIComponent(m[1]), decodeURIComponent(m[2])).catch((e) => fail(main, e));
    if ((m = path.match(/^\/study\/([^/]+)\/?$/))) return studyPage(main, decodeURIComponent(m[1])).catch((e) => fail(main, e));
    fail(main, new Error('no such page'));
  } catch (e) {
    fail(main, e);
  }
}

route();
