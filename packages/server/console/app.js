/* global document, window, location, history, sessionStorage, fetch, FormData, Node, URLSearchParams, setInterval, clearInterval */
// The fsmkit console: plain DOM, no framework, no CDN. Every text from the server goes in with
// textContent, never as HTML.
const STATUSES = ['ready', 'running', 'waiting', 'idle', 'paused', 'done', 'failed', 'compensated'];
const TOKEN_KEY = 'fsmkit.token';
const main = document.getElementById('main');
const ctx = { token: null, me: null, machines: [], timers: [] };

// ---- helpers ------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
const badge = (status) => h('span', { class: `badge s-${status}`, 'data-status': status }, status);
const shortId = (id) => (id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);
function ago(iso) {
  const d = (Date.now() - Date.parse(iso)) / 1000;
  if (d < 60) return `${Math.max(0, Math.round(d))} s ago`;
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}
const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const canOperate = () => ctx.me?.scopes.includes('operate');

function toast(text, bad = false) {
  const t = h('div', { class: `toast${bad ? ' bad' : ''}`, role: 'status' }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 3500);
}
function problemToast(e) {
  if (e.problem) toast(h('span', {}, h('b', {}, e.problem.title), ': ', e.problem.detail, ' ', h('code', {}, e.problem.code)), true);
  else toast(String(e.message ?? e), true);
}

class ApiError extends Error {
  constructor(problem) {
    super(problem.detail);
    this.problem = problem;
  }
}
async function api(path, { method = 'GET', body } = {}) {
  const res = await fetch(path.replace(/^\//, ''), {
    method,
    headers: { authorization: `Bearer ${ctx.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      ctx.token = null;
      location.hash = '#/';
      start();
    }
    throw new ApiError(typeof data === 'object' ? data : { title: res.statusText, detail: String(data), code: 'FSM_HTTP' });
  }
  return data;
}

function confirmAction(title, body) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  const holder = document.getElementById('confirm-body');
  holder.replaceChildren(...(body ? [body] : []));
  dlg.returnValue = '';
  dlg.showModal();
  return new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true }));
}

// ---- routing ------------------------------------------------------------------------------
function parseHash() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  return { parts: (path || '/').split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query ?? '') };
}
function go(path, params) {
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString() : '';
  location.hash = `#${path}${q ? `?${q}` : ''}`;
}
async function route() {
  ctx.timers.forEach(clearInterval);
  ctx.timers = [];
  const { parts, params } = parseHash();
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === (parts[0] === 'stats' ? 'stats' : parts[0] === 'trouble' ? 'trouble' : 'list')));
  try {
    if (parts[0] === 'i') await instancePage(parts[1], parts[2]);
    else if (parts[0] === 'stats') await statsPage(params);
    else if (parts[0] === 'trouble') await troublePage();
    else await listPage(params);
  } catch (e) {
    main.replaceChildren(h('div', { class: 'card errbox' }, e.problem ? `${e.problem.title}: ${e.problem.detail} (${e.problem.code})` : String(e)));
  }
}

// ---- login --------------------------------------------------------------------------------
function loginPage(message) {
  document.getElementById('who').replaceChildren();
  const input = h('input', { type: 'password', id: 'token', placeholder: 'bearer token', autocomplete: 'off' });
  main.replaceChildren(
    h('form', { class: 'card login', onsubmit: (e) => { e.preventDefault(); sessionStorage.setItem(TOKEN_KEY, input.value.trim()); start(); } },
      h('h1', {}, 'fsmkit console'),
      h('p', { class: 'muted' }, 'Give a token with the read scope (or operate, to act on instances). It stays in this tab only.'),
      message ? h('div', { class: 'errbox' }, message) : null,
      input,
      h('button', { class: 'primary', type: 'submit' }, 'Open')),
  );
  input.focus();
}

async function start() {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', `${location.pathname}#/`);
  }
  ctx.token = sessionStorage.getItem(TOKEN_KEY);
  if (!ctx.token) return loginPage();
  try {
    ctx.me = await api('/api/me');
    ctx.machines = (await api('/api/machines')).machines;
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    return loginPage(e.problem ? e.problem.detail : String(e));
  }
  document.getElementById('who').replaceChildren(
    ...(ctx.me.name ? [h('span', {}, ctx.me.name)] : []),
    ...ctx.me.scopes.map((sc) => h('span', { class: 'scope' }, sc)),
    h('button', { onclick: () => { sessionStorage.removeItem(TOKEN_KEY); location.hash = '#/'; start(); } }, 'Sign out'),
  );
  await route();
}
window.addEventListener('hashchange', () => ctx.token && route());

const machine = (name) => ctx.machines.find((m) => m.name === name) ?? ctx.machines[0];
function machineSelect(current, onchange) {
  return h('label', {}, 'Machine', h('select', { name: 'machine', onchange: (e) => onchange(e.target.value) }, ctx.machines.map((m) => h('option', { value: m.name, selected: m.name === current }, m.name))));
}
function statesOf(model) {
  const states = model.steps.map((st) => st.name);
  for (const t of model.transitions ?? []) for (const st of [...t.from, t.to]) if (st !== '*' && !states.includes(st)) states.push(st);
  if (model.initial && !states.includes(model.initial)) states.unshift(model.initial);
  for (const st of ['done', 'failed', 'compensated']) if (!states.includes(st)) states.push(st);
  return states;
}

// ---- list ---------------------------------------------------------------------------------
async function listPage(params) {
  if (ctx.machines.length === 0) return main.replaceChildren(h('div', { class: 'card empty' }, 'No machine is served.'));
  const m = machine(params.get('machine'));
  const f = { machine: m.name, status: params.get('status') ?? '', state: params.get('state') ?? '', user: params.get('user') ?? '', createdAfter: params.get('createdAfter') ?? '', createdBefore: params.get('createdBefore') ?? '', offset: Number(params.get('offset') ?? 0) };
  const limit = 25;
  const q = new URLSearchParams({ limit: String(limit), offset: String(f.offset), orderBy: 'id', order: 'desc' });
  for (const k of ['status', 'state', 'user']) if (f[k]) q.set(k, f[k]);
  for (const k of ['createdAfter', 'createdBefore']) if (f[k]) q.set(k, new Date(f[k]).toISOString());
  const list = await api(`/api/fsm/${encodeURIComponent(m.name)}/instances?${q}`);

  const chips = h('div', { class: 'chips', id: 'counts' });
  const drawCounts = async () => {
    try {
      const st = await api(`/api/fsm/${encodeURIComponent(m.name)}/stats`);
      chips.replaceChildren(
        h('span', { class: `chip${f.status ? '' : ' on'}`, onclick: () => go('/', { ...f, status: '', offset: 0 }) }, 'all', h('b', {}, st.total)),
        ...STATUSES.filter((x) => st.byStatus[x]).map((x) =>
          h('span', { class: `chip s-${x}${f.status === x ? ' on' : ''}`, 'data-count': x, onclick: () => go('/', { ...f, status: x, offset: 0 }) }, h('span', { class: 'dot' }), x, h('b', {}, st.byStatus[x]))),
      );
    } catch { /* counts are a help, not the page */ }
  };
  await drawCounts();
  ctx.timers.push(setInterval(drawCounts, 5000));

  const form = h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); const d = Object.fromEntries(new FormData(e.target)); go('/', { ...d, offset: 0 }); } },
    machineSelect(m.name, (name) => go('/', { machine: name })),
    h('label', {}, 'Status', h('select', { name: 'status' }, h('option', { value: '' }, 'any'), STATUSES.map((x) => h('option', { value: x, selected: x === f.status }, x)))),
    h('label', {}, 'State', h('select', { name: 'state' }, h('option', { value: '' }, 'any'), statesOf(m.model).map((x) => h('option', { value: x, selected: x === f.state }, x)))),
    h('label', {}, 'User', h('input', { name: 'user', value: f.user, placeholder: 'user id', size: 14 })),
    h('label', {}, 'Created after', h('input', { type: 'datetime-local', name: 'createdAfter', value: f.createdAfter })),
    h('label', {}, 'Created before', h('input', { type: 'datetime-local', name: 'createdBefore', value: f.createdBefore })),
    h('button', { class: 'primary', type: 'submit' }, 'Filter'),
    h('input', { type: 'hidden', name: 'machine', value: m.name }),
  );
  const rows = list.items.map((i) =>
    h('tr', { class: 'click', 'data-id': i.id, onclick: () => go(`/i/${encodeURIComponent(m.name)}/${encodeURIComponent(i.id)}`) },
      h('td', { class: 'mono', title: i.id }, shortId(i.id)),
      h('td', {}, i.userId ?? h('span', { class: 'muted' }, '—')),
      h('td', {}, h('code', {}, i.state)),
      h('td', {}, badge(i.status), i.pauseRequested && i.status !== 'paused' ? h('span', { class: 'muted' }, ' pause requested') : null),
      h('td', {}, i.error ? h('span', { class: 'del' }, i.error.message.slice(0, 80)) : ''),
      h('td', { title: i.updatedAt }, ago(i.updatedAt))));
  main.replaceChildren(
    h('div', { class: 'pagehead' }, h('div', {}, h('h1', {}, 'Instances'), h('div', { class: 'sub' }, `${m.name} · ${m.model.steps.length} steps${m.model.transitions?.length ? ` · ${m.model.transitions.length} transitions` : ''}`))),
    chips,
    h('div', { class: 'card' }, form),
    h('div', { class: 'card' },
      list.items.length === 0 ? h('div', { class: 'empty' }, 'No instance matches.') :
        h('table', { id: 'instances' }, h('thead', {}, h('tr', {}, ['Id', 'User', 'State', 'Status', 'Error', 'Updated'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)),
      h('div', { class: 'pager' },
        `${f.offset + 1}–${f.offset + list.items.length}`,
        h('button', { disabled: f.offset === 0, onclick: () => go('/', { ...f, offset: Math.max(0, f.offset - limit) }) }, '← Newer'),
        h('button', { disabled: list.items.length < limit, onclick: () => go('/', { ...f, offset: f.offset + limit }) }, 'Older →'))),
  );
}

// ---- diagram ------------------------------------------------------------------------------
/** The machine as an SVG: states left to right in step order, the current one and the path taken highlighted. */
function diagram(model, instance, history) {
  const states = statesOf(model);
  const W = 128, H = 40, GAP = 46, PAD = 24, ROW = 150;
  const x = (st) => PAD + states.indexOf(st) * (W + GAP);
  const edges = [];
  const add = (from, to, kind, label) => { if (states.includes(from) && states.includes(to)) edges.push({ from, to, kind, label }); };
  model.steps.forEach((st, i) => {
    const nexts = st.end ? ['done'] : st.next ?? [model.steps[i + 1]?.name ?? 'done'];
    nexts.forEach((n) => add(st.name, n, 'next'));
    for (const c of st.catch ?? []) add(st.name, c.goto, 'catch', `catch ${c.on.join(',')}`);
  });
  for (const t of model.transitions ?? []) for (const f of t.from) if (f !== '*') add(f, t.to, 'transition', t.name);
  const taken = new Set();
  const visited = new Set();
  const undone = new Set();
  for (const e of history) {
    if (e.direction === 'backward') { undone.add(e.step); continue; }
    taken.add(`${e.stateBefore}>${e.stateAfter}`);
    visited.add(e.stateBefore);
    if (!e.error) visited.add(e.stateAfter);
  }
  const cy = ROW / 2;
  const width = PAD * 2 + states.length * W + (states.length - 1) * GAP;
  const paths = edges.map((e, i) => {
    const x1 = x(e.from), x2 = x(e.to);
    const cls = `edge ${e.kind}${taken.has(`${e.from}>${e.to}`) ? ' taken' : ''}`;
    const adjacent = e.kind === 'next' && x2 - x1 === W + GAP;
    let d, lx, ly;
    if (adjacent) { d = `M${x1 + W} ${cy} L${x2 - 3} ${cy}`; lx = (x1 + W + x2) / 2; ly = cy - 6; }
    else {
      const up = x2 > x1 ? -1 : 1;
      const a = x1 + W / 2 + (up < 0 ? 10 : -10), b = x2 + W / 2 + (up < 0 ? -10 : 10);
      const yEdge = cy + up * (H / 2);
      const lift = up * (22 + Math.min(40, Math.abs(x2 - x1) / 12) + (i % 3) * 6);
      d = `M${a} ${yEdge} C${a} ${yEdge + lift} ${b} ${yEdge + lift} ${b} ${yEdge + up * 3}`;
      lx = (a + b) / 2; ly = yEdge + lift * 0.78 + (up < 0 ? -2 : 10);
    }
    return s('g', {}, s('path', { d, class: cls, 'marker-end': `url(#arrow-${e.kind})` }), e.label && e.kind !== 'next' ? s('text', { x: lx, y: ly, 'text-anchor': 'middle', class: 'elabel' }, e.label) : null);
  });
  const nodes = states.map((st) => {
    const terminal = ['done', 'failed', 'compensated'].includes(st);
    const current = st === instance.state;
    const cls = ['node', terminal && 'terminal', visited.has(st) && 'visited', undone.has(st) && 'undone', current && 'current', current && `s-${instance.status}`].filter(Boolean).join(' ');
    return s('g', { class: cls, 'data-state': st },
      s('rect', { x: x(st), y: cy - H / 2, width: W, height: H, rx: terminal ? 20 : 8 }),
      s('text', { x: x(st) + W / 2, y: cy + 4, 'text-anchor': 'middle' }, st.length > 17 ? `${st.slice(0, 16)}…` : st),
      s('title', {}, st));
  });
  const marker = (id, color) => s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, s('path', { d: 'M0 0 L10 5 L0 10 z', fill: color }));
  const svg = s('svg', { width, height: ROW, viewBox: `0 0 ${width} ${ROW}`, role: 'img', 'aria-label': `diagram of ${model.name}` },
    s('defs', {}, marker('arrow-next', '#9aa1ad'), marker('arrow-catch', '#f87171'), marker('arrow-transition', '#8b5cf6')),
    paths, nodes);
  return h('div', {},
    h('div', { class: 'diagram' }, svg),
    h('div', { class: 'legend' },
      h('span', {}, h('i', { style: 'border-color:#4f46e5' }), 'path taken'),
      h('span', {}, h('i', { style: 'border-color:#8b5cf6;border-top-style:dashed' }), 'transition'),
      h('span', {}, h('i', { style: 'border-color:#f87171;border-top-style:dashed' }), 'catch'),
      h('span', {}, h('span', { class: 'badge s-waiting' }, 'undone'), ' compensated step')));
}

// ---- instance -----------------------------------------------------------------------------
function flatten(v, prefix = '', out = new Map()) {
  if (v !== null && typeof v === 'object' && Object.keys(v).length > 0) {
    for (const [k, c] of Object.entries(v)) flatten(c, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out.set(prefix, JSON.stringify(v));
  return out;
}
function dataDiff(before, after) {
  const a = flatten(before), b = flatten(after);
  const lines = [];
  for (const [k, v] of b) {
    if (!a.has(k)) lines.push(h('div', { class: 'add' }, `+ ${k}: ${v}`));
    else if (a.get(k) !== v) lines.push(h('div', { class: 'chg' }, `~ ${k}: ${a.get(k)} → ${v}`));
  }
  for (const [k] of a) if (!b.has(k)) lines.push(h('div', { class: 'del' }, `- ${k}`));
  return lines.length ? h('div', { class: 'diff' }, lines) : h('div', { class: 'diff muted' }, 'data unchanged');
}

function schemaForm(schema) {
  // Fields for an object schema's properties; anything else is edited as JSON.
  const props = schema && schema.type === 'object' && schema.properties ? Object.entries(schema.properties) : null;
  if (!props) {
    const ta = h('textarea', { name: 'json' }, '{}');
    return { el: h('label', {}, 'Input (JSON)', ta), value: () => JSON.parse(ta.value || '{}') };
  }
  const req = new Set(schema.required ?? []);
  const fields = props.map(([name, p]) => {
    const label = `${name}${req.has(name) ? ' *' : ''}${p.description ? ` — ${p.description}` : ''}`;
    let input, read;
    if (p.enum) { input = h('select', { name }, h('option', { value: '' }, ''), p.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v)))); read = () => (input.value ? JSON.parse(input.value) : undefined); }
    else if (p.type === 'boolean') { input = h('input', { type: 'checkbox', name }); read = () => input.checked; }
    else if (p.type === 'integer' || p.type === 'number') { input = h('input', { type: 'number', name, step: p.type === 'integer' ? 1 : 'any', min: p.minimum, max: p.maximum }); read = () => (input.value === '' ? undefined : Number(input.value)); }
    else if (p.type === 'string') { input = h('input', { name, maxlength: p.maxLength, placeholder: p.format ?? '' }); read = () => (input.value === '' && !req.has(name) ? undefined : input.value); }
    else { input = h('textarea', { name }, ''); read = () => (input.value.trim() ? JSON.parse(input.value) : undefined); }
    return { el: h('label', {}, label, input), name, read };
  });
  return { el: h('div', { class: 'formgrid' }, fields.map((f) => f.el)), value: () => Object.fromEntries(fields.map((f) => [f.name, f.read()]).filter(([, v]) => v !== undefined)) };
}

async function instancePage(name, id) {
  const m = machine(name);
  const base = `/api/fsm/${encodeURIComponent(name)}/${encodeURIComponent(id)}`;
  // Events need an outbox on the server's side: without one, the page goes without them.
  const [inst, hist, events] = await Promise.all([api(base), api(`${base}/history`), api(`${base}/events`).then((r) => r.items, () => null)]);
  const run = async (label, path, body, confirmBody) => {
    if (!(await confirmAction(`${label} ${shortId(id)}?`, confirmBody))) return;
    try {
      const after = await api(`${base}/${path}`, { method: 'POST', body: typeof body === 'function' ? body() : body ?? {} });
      toast(`${label}: now ${after.status} at ${after.state}`);
    } catch (e) { problemToast(e); }
    await route();
  };
  const transitions = (m.model.transitions ?? []).filter((t) => t.from.includes('*') || t.from.includes(inst.state));
  const actions = canOperate()
    ? h('div', { class: 'actions', id: 'actions' },
      h('button', { 'data-action': 'pause', onclick: () => run('Pause', 'pause', () => ({ reason: reasonInput.value || undefined }), h('label', {}, 'Reason (optional)', reasonInput)) }, 'Pause'),
      h('button', { 'data-action': 'resume', onclick: () => { patch.value = '{}'; run('Resume', 'resume', () => ({ patch: JSON.parse(patch.value || '{}') }), h('label', {}, 'Patch merged into the data (JSON)', patch)); } }, 'Resume…'),
      h('button', { 'data-action': 'next', onclick: () => run('Run the next step of', 'next') }, 'Next step'),
      h('button', { 'data-action': 'back', onclick: () => run('Undo the last step of', 'back') }, 'Back'),
      h('button', { class: 'danger', 'data-action': 'compensate', onclick: () => run('Compensate', 'compensate', {}, h('p', {}, 'Every completed step is undone, newest first.')) }, 'Compensate'),
      transitions.map((t) => h('button', { class: 'primary', 'data-transition': t.name, onclick: () => {
        const form = schemaForm(t.input);
        run(`Transition "${t.name}" (→ ${t.to}) on`, 'transition', () => ({ name: t.name, input: form.value() }), form.el);
      } }, `${t.name} →`)))
    : h('p', { class: 'muted', id: 'readonly' }, 'Read-only token: actions need the operate scope.');
  const reasonInput = h('input', { placeholder: 'why', maxlength: 1024 });
  const patch = h('textarea', {}, '{}');

  const timeline = h('ol', { class: 'timeline' }, hist.items.map((e) =>
    h('li', { class: `${e.error ? 'err' : ''} ${e.direction === 'backward' ? 'bwd' : ''}` },
      h('div', { class: 'head' },
        h('b', {}, `#${e.seq}`), h('code', {}, e.transition ? `transition ${e.transition}` : e.handler),
        h('span', { class: 'muted' }, e.direction === 'backward' ? '↩ backward' : 'forward'),
        h('span', {}, h('code', {}, e.stateBefore), ' → ', h('code', {}, e.stateAfter)),
        e.attempt > 1 ? h('span', { class: 'badge s-waiting' }, `attempt ${e.attempt}`) : null,
        e.actor ? h('span', { class: 'muted' }, `by ${e.actor}`) : null,
        h('span', { class: 'when', title: e.startedAt }, `${ms(e.durationMs)} · ${new Date(e.startedAt).toLocaleString()}`)),
      e.error ? h('div', { class: 'errbox' }, `${e.error.name}${e.error.code ? ` (${e.error.code})` : ''}: ${e.error.message}`) : null,
      Object.keys(e.metadata ?? {}).length ? h('div', { class: 'diff muted' }, `metadata ${JSON.stringify(e.metadata)}`) : null,
      dataDiff(e.dataBefore, e.dataAfter))));

  main.replaceChildren(
    h('div', { class: 'pagehead' },
      h('div', {}, h('div', { class: 'sub' }, h('a', { href: `#/?machine=${encodeURIComponent(name)}` }, `← ${name}`)), h('h1', { class: 'mono' }, inst.id)),
      h('div', {}, badge(inst.status), ' at ', h('code', { id: 'state' }, inst.state))),
    h('div', { class: 'card' }, h('h2', {}, 'Machine'), diagram(m.model, inst, hist.items)),
    h('div', { class: 'row' },
      h('div', { class: 'grow' },
        h('div', { class: 'card' }, h('h2', {}, 'Actions'), actions),
        inst.error ? h('div', { class: 'card' }, h('h2', {}, 'Last error'), h('div', { class: 'errbox' }, `${inst.error.name}${inst.error.code ? ` (${inst.error.code})` : ''}: ${inst.error.message}`)) : null,
        h('div', { class: 'card' }, h('h2', {}, `History (${hist.items.length})`), hist.items.length ? timeline : h('div', { class: 'empty' }, 'Nothing ran yet.'))),
      h('div', { class: 'grow', style: 'max-width:440px' },
        h('div', { class: 'card' }, h('h2', {}, 'Instance'), h('dl', { class: 'kv' },
          [['status', badge(inst.status)], ['state', h('code', {}, inst.state)], ['direction', inst.direction], ['user', inst.userId ?? '—'], ['version', inst.version],
            ['attempts', inst.attempts], ['pause', inst.pauseRequested ? `requested${inst.pauseReason ? `: ${inst.pauseReason}` : ''}` : inst.pauseReason ?? '—'],
            ['next run', inst.nextRunAt ?? '—'], ['created', new Date(inst.createdAt).toLocaleString()], ['updated', new Date(inst.updatedAt).toLocaleString()]]
            .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
        events ? h('div', { class: 'card', id: 'events' }, h('h2', {}, `Events (${events.length})`), events.length === 0 ? h('div', { class: 'empty' }, 'No event: the machine has no topic.') :
          h('table', {}, h('thead', {}, h('tr', {}, ['#', 'Type', 'Published'].map((t) => h('th', {}, t)))),
            h('tbody', {}, events.map((e) => h('tr', {}, h('td', {}, e.sequence), h('td', {}, h('code', {}, e.type)),
              h('td', {}, e.sentAt ? ago(e.sentAt) : e.attempts > 0 ? h('span', { class: 'del', title: e.lastError ?? '' }, `failing (${e.attempts})`) : h('span', { class: 'muted' }, 'pending'))))))) : null,
        h('div', { class: 'card' }, h('h2', {}, 'Data'), inst.dataError ? h('div', { class: 'errbox' }, inst.dataError) : h('pre', { class: 'json' }, JSON.stringify(inst.data, null, 2))))),
  );
}

// ---- statistics ---------------------------------------------------------------------------
function timelineChart(points, bucketSeconds) {
  const W = 760, H = 190, L = 36, B = 24;
  if (points.length === 0) return h('div', { class: 'empty' }, 'No instance finished in this range.');
  const max = Math.max(1, ...points.map((p) => p.done + p.failed + p.compensated));
  const bw = Math.max(4, Math.min(40, (W - L - 10) / points.length - 4));
  const y = (v) => H - B - (v / max) * (H - B - 10);
  const bars = points.flatMap((p, i) => {
    const x0 = L + 6 + i * (bw + 4);
    let acc = 0;
    return [['done', '#16a34a'], ['compensated', '#ea580c'], ['failed', '#dc2626']].map(([k, c]) => {
      const r = s('rect', { x: x0, y: y(acc + p[k]), width: bw, height: Math.max(0, y(acc) - y(acc + p[k])), fill: c }, s('title', {}, `${new Date(p.at).toLocaleString()}: ${p[k]} ${k}`));
      acc += p[k];
      return r;
    });
  });
  const ticks = [0, Math.ceil(max / 2), max].map((v) => s('g', {}, s('line', { x1: L, x2: W, y1: y(v), y2: y(v), stroke: '#eef0f3' }), s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v)));
  const labels = points.length <= 12 ? points.map((p, i) => s('text', { x: L + 6 + i * (bw + 4) + bw / 2, y: H - 6, 'text-anchor': 'middle' }, bucketSeconds >= 86400 ? new Date(p.at).toLocaleDateString() : new Date(p.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))) : [];
  return h('div', {}, h('div', { class: 'chart' }, s('svg', { width: '100%', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'finished instances over time' }, ticks, bars, labels)),
    h('div', { class: 'legend' }, h('span', {}, h('span', { class: 'dot', style: '--c:#16a34a' }), ' done'), h('span', {}, h('span', { class: 'dot', style: '--c:#ea580c' }), ' compensated'), h('span', {}, h('span', { class: 'dot', style: '--c:#dc2626' }), ' failed')));
}

async function statsPage(params) {
  const m = machine(params.get('machine'));
  const range = params.get('range') ?? '24h';
  const spans = { '1h': [3600, 300], '24h': [86400, 3600], '7d': [604800, 21600], all: [0, 86400] };
  const [span, bucket] = spans[range] ?? spans['24h'];
  const q = new URLSearchParams({ bucketSeconds: String(bucket) });
  if (span) q.set('from', new Date(Date.now() - span * 1000).toISOString());
  const st = await api(`/api/fsm/${encodeURIComponent(m.name)}/stats?${q}`);
  const maxStatus = Math.max(1, ...Object.values(st.byStatus));
  const bars = (entries, max, cls) => h('div', { class: 'bars' }, entries.map(([k, v]) => h('div', { class: `bar ${cls(k)}` }, h('span', {}, k), h('div', { class: 'track' }, h('div', { class: 'fill', style: `width:${(100 * v) / max}%` })), h('b', { class: 'num' }, v))));
  const stateEntries = Object.entries(st.byState).sort((a, b) => b[1] - a[1]);
  main.replaceChildren(
    h('div', { class: 'pagehead' },
      h('div', {}, h('h1', {}, 'Statistics'), h('div', { class: 'sub' }, `${m.name} · instances created ${range === 'all' ? 'at any time' : `in the last ${range}`}`)),
      h('div', { class: 'filters', style: 'margin-left:auto' }, machineSelect(m.name, (name) => go('/stats', { machine: name, range })),
        h('label', {}, 'Range', h('select', { onchange: (e) => go('/stats', { machine: m.name, range: e.target.value }) }, Object.keys(spans).map((r) => h('option', { value: r, selected: r === range }, r)))))),
    h('div', { class: 'row' },
      h('div', { class: 'card grow' }, h('h2', {}, 'Instances'), h('div', { class: 'stat' }, st.total), h('div', { class: 'muted' }, 'in range')),
      h('div', { class: 'card grow' }, h('h2', {}, 'By status'), bars(STATUSES.filter((x) => st.byStatus[x]).map((x) => [x, st.byStatus[x]]), maxStatus, (k) => `s-${k}`)),
      h('div', { class: 'card grow' }, h('h2', {}, 'By state'), bars(stateEntries, Math.max(1, ...stateEntries.map((e) => e[1])), () => ''))),
    h('div', { class: 'card' }, h('h2', {}, 'Finished over time'), timelineChart(st.timeline, bucket)),
    h('div', { class: 'card' }, h('h2', {}, 'Step durations'), st.steps.length === 0 ? h('div', { class: 'empty' }, 'No step ran in this range.') :
      h('table', { id: 'steps' }, h('thead', {}, h('tr', {}, ['Step', 'Direction', 'Runs', 'Failures', 'Avg', 'p50', 'p95', 'p99'].map((t, i) => h('th', { class: i > 1 ? 'num' : '' }, t)))),
        h('tbody', {}, st.steps.map((x) => h('tr', {}, h('td', {}, h('code', {}, x.step)), h('td', {}, x.direction), h('td', { class: 'num' }, x.count), h('td', { class: `num ${x.failures ? 'del' : ''}` }, x.failures),
          h('td', { class: 'num' }, ms(x.avgMs)), h('td', { class: 'num' }, ms(x.p50Ms)), h('td', { class: 'num' }, ms(x.p95Ms)), h('td', { class: 'num' }, ms(x.p99Ms))))))),
  );
}

// ---- trouble ------------------------------------------------------------------------------
async function troublePage() {
  const t = await api('/api/trouble');
  const table = (machineName, items, extra) => items.length === 0 ? h('div', { class: 'empty' }, 'None.') :
    h('table', {}, h('thead', {}, h('tr', {}, ['Id', 'State', 'Status', extra[0], 'Updated'].map((x) => h('th', {}, x)))),
      h('tbody', {}, items.map((i) => h('tr', { class: 'click', onclick: () => go(`/i/${encodeURIComponent(machineName)}/${encodeURIComponent(i.id)}`) },
        h('td', { class: 'mono' }, shortId(i.id)), h('td', {}, h('code', {}, i.state)), h('td', {}, badge(i.status)), h('td', {}, extra[1](i)), h('td', {}, ago(i.updatedAt))))));
  main.replaceChildren(
    h('div', { class: 'pagehead' }, h('div', {}, h('h1', {}, 'Trouble'), h('div', { class: 'sub' }, 'Failed instances, runs whose worker died, instances taken over'))),
    ...t.machines.map((m) => h('div', { class: 'card' }, h('h2', {}, m.machine),
      h('h3', {}, `Failed (${m.failed.length})`), table(m.machine, m.failed, ['Error', (i) => h('span', { class: 'del' }, i.error?.message ?? '')]),
      h('h3', { style: 'margin-top:16px' }, `Lease expired (${m.leaseExpired.length})`), table(m.machine, m.leaseExpired, ['Attempts', (i) => i.attempts]),
      h('h3', { style: 'margin-top:16px' }, `Taken over (${m.takenOver.length})`), table(m.machine, m.takenOver, ['Takeovers', (i) => i.takeovers]))),
    t.outboxFailing ? h('div', { class: 'card', id: 'outbox-failing' }, h('h2', {}, `Events set aside in the outbox (${t.outboxFailing.length})`),
      t.outboxFailing.length === 0 ? h('div', { class: 'empty' }, 'None: every publish succeeded or is still to come.') :
        h('table', {}, h('thead', {}, h('tr', {}, ['Machine', 'Instance', '#', 'Type', 'Attempts', 'Last error', 'Created'].map((x) => h('th', {}, x)))),
          h('tbody', {}, t.outboxFailing.map((e) => h('tr', { class: 'click', onclick: () => go(`/i/${encodeURIComponent(e.machine)}/${encodeURIComponent(e.instanceId)}`) },
            h('td', {}, e.machine), h('td', { class: 'mono' }, shortId(e.instanceId)), h('td', {}, e.sequence), h('td', {}, h('code', {}, e.type)), h('td', { class: 'num' }, e.attempts),
            h('td', { class: 'del' }, e.lastError ?? ''), h('td', {}, ago(e.createdAt))))))) : null,
  );
}

start();
